package main

import (
	"time"

	"gopkg.in/fsnotify.v1"
)

// FileWatcher reports at most one change per interval: events only set a
// flag, and a ticker runs the callback when the flag is set.
type FileWatcher struct {
	fsNotify *fsnotify.Watcher
	interval time.Duration
	done     chan struct{}
	callback func()
}

// WatchFile begins watching path, running action at most once per interval.
// As in the seed, the error of the first Add is not checked.
func WatchFile(path string, interval time.Duration, action func()) (*FileWatcher, error) {
	fsWatcher, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	fsWatcher.Add(path)

	watcher := &FileWatcher{fsWatcher, interval, make(chan struct{}, 1), action}
	go watcher.run()
	return watcher, err
}

func (self *FileWatcher) run() {
	tick := time.Tick(self.interval)

	var lastWriteEvent *fsnotify.Event
	for {
		select {
		case event := <-self.fsNotify.Events:
			// The kubelet's swap deletes the file the watch resolved to; the
			// seed re-registers the path, which resolves the symlink anew.
			if event.Op == fsnotify.Remove {
				self.fsNotify.Remove(event.Name)
				self.fsNotify.Add(event.Name)
				lastWriteEvent = &event
			}
			// The published watcher.go also counts plain writes.
			if event.Op == fsnotify.Write {
				lastWriteEvent = &event
			}
		case <-tick:
			if lastWriteEvent == nil {
				continue
			}
			self.callback()
			lastWriteEvent = nil
		case <-self.done:
			goto Close
		}
	}
Close:
	close(self.done)
}

func (self *FileWatcher) Close() {
	self.done <- struct{}{}
	self.fsNotify.Close()
}
