// The Go side of the managers comparison: the 2016 seed's two config
// managers (a mutex, an owner goroutine with an unbuffered channel) and the
// two standard-library alternatives (sync.RWMutex, sync/atomic.Value), read
// in the same scenarios as the Rust bench (benches/benches/managers.rs).
//
//	go test -run '^$' -bench . -benchtime 1s                              # go's own report
//	go test -run '^TestRecords$' -records out.jsonl -repeats 3 -benchtime 1s  # the workspace's records
//
// Each benchmark reports ns/read: wall time / (goroutines x reads per
// goroutine), the wall time running from the release of all readers to the
// last one finishing, the same aggregate as the Rust side. GOMAXPROCS is left
// at its default (every core); the goroutine count is explicit.
//
// With -records, TestRecords runs every benchmark -repeats times and appends
// one record per scenario and manager (the median) to that file, as JSON
// lines with the fields of the Rust `records` crate: group "managers",
// scenario as in the Rust bench, subject "go_<manager>", metric "ns_per_read".
package configbench

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	recordsPath = flag.String("records", "", "append the benchmarks' results as JSON-lines records to this file")
	repeats     = flag.Int("repeats", 3, "with -records: runs of each benchmark; the record is their median")
)

// Config is the seed's config: one message.
type Config struct {
	Message string
}

// ConfigManager is the seed's interface.
type ConfigManager interface {
	Set(*Config)
	Get() *Config
	Close()
}

// MutexConfigManager is the seed's mutex manager.
type MutexConfigManager struct {
	conf  *Config
	mutex *sync.Mutex
}

func NewMutexConfigManager(conf *Config) *MutexConfigManager {
	return &MutexConfigManager{conf, &sync.Mutex{}}
}

func (m *MutexConfigManager) Set(conf *Config) {
	m.mutex.Lock()
	m.conf = conf
	m.mutex.Unlock()
}

func (m *MutexConfigManager) Get() *Config {
	m.mutex.Lock()
	temp := m.conf
	m.mutex.Unlock()
	return temp
}

func (m *MutexConfigManager) Close() {}

// ChannelConfigManager is the seed's channel manager: an owner goroutine
// hands the config to readers over an unbuffered channel.
type ChannelConfigManager struct {
	conf *Config
	get  chan *Config
	set  chan *Config
	done chan bool
}

func NewChannelConfigManager(conf *Config) *ChannelConfigManager {
	parser := &ChannelConfigManager{conf, make(chan *Config), make(chan *Config), make(chan bool)}
	parser.Start()
	return parser
}

func (m *ChannelConfigManager) Start() {
	go func() {
		defer func() {
			m.conf = nil
		}()
		for {
			select {
			case m.get <- m.conf:
			case value := <-m.set:
				m.conf = value
			case <-m.done:
				return
			}
		}
	}()
}

func (m *ChannelConfigManager) Close() {
	m.done <- true
}

func (m *ChannelConfigManager) Set(conf *Config) {
	m.set <- conf
}

func (m *ChannelConfigManager) Get() *Config {
	return <-m.get
}

// RWMutexConfigManager is the seed's mutex manager with readers sharing the lock.
type RWMutexConfigManager struct {
	conf  *Config
	mutex sync.RWMutex
}

func (m *RWMutexConfigManager) Set(conf *Config) {
	m.mutex.Lock()
	m.conf = conf
	m.mutex.Unlock()
}

func (m *RWMutexConfigManager) Get() *Config {
	m.mutex.RLock()
	temp := m.conf
	m.mutex.RUnlock()
	return temp
}

func (m *RWMutexConfigManager) Close() {}

// AtomicValueConfigManager stores the pointer in a sync/atomic.Value.
type AtomicValueConfigManager struct {
	conf atomic.Value
}

func NewAtomicValueConfigManager(conf *Config) *AtomicValueConfigManager {
	m := &AtomicValueConfigManager{}
	m.conf.Store(conf)
	return m
}

func (m *AtomicValueConfigManager) Set(conf *Config) {
	m.conf.Store(conf)
}

func (m *AtomicValueConfigManager) Get() *Config {
	return m.conf.Load().(*Config)
}

func (m *AtomicValueConfigManager) Close() {}

func example() *Config {
	return &Config{Message: "Hello, config reload!"}
}

var managers = []struct {
	name string
	make func() ConfigManager
}{
	{"mutex", func() ConfigManager { return NewMutexConfigManager(example()) }},
	{"channel", func() ConfigManager { return NewChannelConfigManager(example()) }},
	{"rwmutex", func() ConfigManager { return &RWMutexConfigManager{conf: example()} }},
	{"atomic_value", func() ConfigManager { return NewAtomicValueConfigManager(example()) }},
}

var scenarios = []struct {
	name       string
	goroutines int
	writer     bool
}{
	{"read_1t", 1, false},
	{"read_1t_writer", 1, true},
	{"read_2t", 2, false},
	{"read_2t_writer", 2, true},
	{"read_8t", 8, false},
	{"read_8t_writer", 8, true},
}

// sink keeps every read's result alive, so no read can be optimised away.
var sink atomic.Int64

// readAll runs b.N reads on each of n goroutines and returns the wall time
// from releasing them to the last one finishing.
func readAll(b *testing.B, m ConfigManager, n int) time.Duration {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for g := 0; g < n; g++ {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			total := 0
			for i := 0; i < b.N; i++ {
				total += len(m.Get().Message)
			}
			sink.Add(int64(total))
		}()
	}
	ready.Wait()
	b.ResetTimer()
	began := time.Now()
	close(start)
	done.Wait()
	took := time.Since(began)
	b.StopTimer()
	return took
}

// writeEveryMillisecond publishes a new config at 1 kHz until stop is closed.
func writeEveryMillisecond(m ConfigManager, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-ticker.C:
			m.Set(&Config{Message: fmt.Sprintf("Hello, config reload #%d!", n)})
		}
	}
}

// benchmark is one scenario with one manager, reporting ns/read.
func benchmark(goroutines int, writer bool, newManager func() ConfigManager) func(*testing.B) {
	return func(b *testing.B) {
		m := newManager()
		defer m.Close()
		if writer {
			stop, stopped := make(chan struct{}), make(chan struct{})
			go writeEveryMillisecond(m, stop, stopped)
			defer func() { close(stop); <-stopped }()
		}
		took := readAll(b, m, goroutines)
		b.ReportMetric(float64(took.Nanoseconds())/float64(goroutines*b.N), "ns/read")
	}
}

func BenchmarkManagers(b *testing.B) {
	for _, s := range scenarios {
		for _, mk := range managers {
			b.Run(s.name+"/"+mk.name, benchmark(s.goroutines, s.writer, mk.make))
		}
	}
}

// Record is one line of the workspace's record format (benches/records).
type Record struct {
	Group      string            `json:"group"`
	Scenario   string            `json:"scenario"`
	Subject    string            `json:"subject"`
	Metric     string            `json:"metric"`
	Value      float64           `json:"value"`
	Unit       string            `json:"unit"`
	N          uint64            `json:"n"`
	Provenance map[string]string `json:"provenance,omitempty"`
}

// TestRecords writes the benchmarks' records when -records is given.
func TestRecords(t *testing.T) {
	if *recordsPath == "" {
		t.Skip("no -records file given")
	}
	file, err := os.OpenFile(*recordsPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	encoder := json.NewEncoder(file)
	provenance := map[string]string{
		"source":    fmt.Sprintf("median of %d testing.Benchmark runs", *repeats),
		"version":   runtime.Version(),
		"benchtime": flag.Lookup("test.benchtime").Value.String(),
	}
	for _, s := range scenarios {
		for _, mk := range managers {
			var runs []float64
			for i := 0; i < *repeats; i++ {
				result := testing.Benchmark(benchmark(s.goroutines, s.writer, mk.make))
				runs = append(runs, result.Extra["ns/read"])
			}
			sort.Float64s(runs)
			median := runs[len(runs)/2]
			if len(runs)%2 == 0 {
				median = (runs[len(runs)/2-1] + median) / 2
			}
			fmt.Fprintf(os.Stderr, "managers/%s/go_%s: %.3g ns/read\n", s.name, mk.name, median)
			record := Record{"managers", s.name, "go_" + mk.name, "ns_per_read", median, "ns", uint64(len(runs)), provenance}
			if err := encoder.Encode(record); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestManagersServeTheLatestConfig checks the benchmarked managers are real:
// a Set is visible to the next Get.
func TestManagersServeTheLatestConfig(t *testing.T) {
	for _, mk := range managers {
		m := mk.make()
		if got := m.Get().Message; got != example().Message {
			t.Errorf("%s: initial message %q", mk.name, got)
		}
		m.Set(&Config{Message: "changed"})
		if got := m.Get().Message; got != "changed" {
			t.Errorf("%s: after Set, message %q", mk.name, got)
		}
		m.Close()
	}
}
