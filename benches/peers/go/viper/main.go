// viper as its README shows: SetConfigFile, ReadInConfig (panic on the first
// error), WatchConfig with an OnConfigChange callback, and every request
// reading the value with viper.GetString.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/viper"
)

func main() {
	configFile := flag.String("config", "config.yaml", "the YAML config")
	bind := flag.String("bind", "127.0.0.1:8080", "the listen address")
	flag.Parse()

	viper.SetConfigFile(*configFile)
	if err := viper.ReadInConfig(); err != nil {
		panic(fmt.Errorf("fatal error config file: %w", err))
	}
	viper.OnConfigChange(func(e fsnotify.Event) {
		fmt.Println("Config file changed:", e.Name)
	})
	viper.WatchConfig()

	http.HandleFunc("/", func(resp http.ResponseWriter, req *http.Request) {
		io.WriteString(resp, viper.GetString("message"))
	})
	listener, err := net.Listen("tcp", *bind)
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	panic(http.Serve(listener, nil))
}
