// koanf (Debian's 0.10.0) as its README shows: the file provider's Watch,
// and on each change "throw away the old config and load a fresh copy" into
// a new koanf instance. The 0.10.0 example merges into the same instance
// instead; the API is the same, the README's current pattern is used.
// Requests read the global instance with k.String, as the README does.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"

	"github.com/knadh/koanf"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
)

var k = koanf.New(".")

func main() {
	configFile := flag.String("config", "config.yaml", "the YAML config")
	bind := flag.String("bind", "127.0.0.1:8080", "the listen address")
	flag.Parse()

	f := file.Provider(*configFile)
	if err := k.Load(f, yaml.Parser()); err != nil {
		log.Fatalf("error loading config: %v", err)
	}

	f.Watch(func(event interface{}, err error) {
		if err != nil {
			log.Printf("watch error: %v", err)
			return
		}

		// Throw away the old config and load a fresh copy.
		log.Println("config changed. Reloading ...")
		k = koanf.New(".")
		k.Load(f, yaml.Parser())
	})

	http.HandleFunc("/", func(resp http.ResponseWriter, req *http.Request) {
		io.WriteString(resp, k.String("message"))
	})
	listener, err := net.Listen("tcp", *bind)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	log.Fatal(http.Serve(listener, nil))
}
