// The approach fsnotify's documentation and issues warn about: watch the
// config file's own path and reload on Write events (fsnotify's README
// example loop). A reload that fails to parse is logged and skipped.
package main

import (
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"net/http"
	"sync"

	"github.com/fsnotify/fsnotify"
	"gopkg.in/yaml.v2"
)

type Config struct {
	Message string `yaml:"message"`
}

var (
	mu      sync.RWMutex
	current *Config
)

func load(path string) (*Config, error) {
	data, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	conf := &Config{}
	if err := yaml.Unmarshal(data, conf); err != nil {
		return nil, err
	}
	return conf, nil
}

func main() {
	configFile := flag.String("config", "config.yaml", "the YAML config")
	bind := flag.String("bind", "127.0.0.1:8080", "the listen address")
	flag.Parse()

	conf, err := load(*configFile)
	if err != nil {
		log.Fatal(err)
	}
	current = conf

	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		log.Fatal(err)
	}
	defer watcher.Close()

	go func() {
		for {
			select {
			case event, ok := <-watcher.Events:
				if !ok {
					return
				}
				if event.Has(fsnotify.Write) {
					log.Println("modified file:", event.Name)
					conf, err := load(*configFile)
					if err != nil {
						log.Println("error:", err)
						continue
					}
					mu.Lock()
					current = conf
					mu.Unlock()
				}
			case err, ok := <-watcher.Errors:
				if !ok {
					return
				}
				log.Println("error:", err)
			}
		}
	}()

	if err := watcher.Add(*configFile); err != nil {
		log.Fatal(err)
	}

	http.HandleFunc("/", func(resp http.ResponseWriter, req *http.Request) {
		mu.RLock()
		message := current.Message
		mu.RUnlock()
		io.WriteString(resp, message)
	})
	listener, err := net.Listen("tcp", *bind)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	log.Fatal(http.Serve(listener, nil))
}
