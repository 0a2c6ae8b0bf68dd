// The 2016 seed (thrawn01/configmap-microservice-demo, shared/seed/000),
// rebuilt from its public code with one change: the config path and the bind
// address come from flags (or CONFIG_FILE / BIND_ADDR) instead of constants,
// and the bound address is printed so a harness can use port 0.
package main

import (
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/julienschmidt/httprouter"
	"gopkg.in/yaml.v2"
)

func check(err error) {
	if err != nil {
		log.Fatalf("error: %v", err)
	}
}

func loadConfig(configFile string) *Config {
	conf := &Config{}
	configData, err := ioutil.ReadFile(configFile)
	check(err)

	err = yaml.Unmarshal(configData, conf)
	check(err)
	return conf
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func main() {
	configFile := flag.String("config", envOr("CONFIG_FILE", "/etc/config/configmap-microservice-demo.yaml"), "the YAML config")
	bind := flag.String("bind", envOr("BIND_ADDR", "0.0.0.0:8080"), "the listen address")
	flag.Parse()

	confManager := NewMutexConfigManager(loadConfig(*configFile))

	router := httprouter.New()
	router.GET("/", func(resp http.ResponseWriter, req *http.Request, params httprouter.Params) {
		conf := confManager.Get()
		fmt.Fprintf(resp, "%s", conf.Message)
	})

	// Watch the file for modification and update the config manager with
	// the new config when it's available.
	watcher, err := WatchFile(*configFile, time.Second, func() {
		fmt.Printf("Configfile Updated\n")
		conf := loadConfig(*configFile)
		confManager.Set(conf)
	})
	check(err)

	defer func() {
		watcher.Close()
		confManager.Close()
	}()

	// http.ListenAndServe split in two so that port 0 can be reported.
	listener, err := net.Listen("tcp", *bind)
	check(err)
	fmt.Printf("listening on %s\n", listener.Addr())
	err = http.Serve(listener, router)
	check(err)
}
