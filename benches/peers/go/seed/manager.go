package main

import "sync"

// Config is the application's configuration.
type Config struct {
	Message string `yaml:"message"`
}

// MutexConfigManager guards the one config instance with a mutex: the
// seed's default manager (its channel manager is benchmarked elsewhere).
type MutexConfigManager struct {
	conf  *Config
	mutex *sync.Mutex
}

func NewMutexConfigManager(conf *Config) *MutexConfigManager {
	return &MutexConfigManager{conf, &sync.Mutex{}}
}

func (self *MutexConfigManager) Set(conf *Config) {
	self.mutex.Lock()
	self.conf = conf
	self.mutex.Unlock()
}

func (self *MutexConfigManager) Get() *Config {
	self.mutex.Lock()
	defer func() {
		self.mutex.Unlock()
	}()
	return self.conf
}

func (self *MutexConfigManager) Close() {}
