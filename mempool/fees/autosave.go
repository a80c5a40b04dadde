package fees

import (
	"log/slog"
	"sync"
	"time"
)

// SaveInterval is how often a running node writes its history, as Core has
// since v25: a crash then loses at most an hour of it, not all of it.
const SaveInterval = time.Hour

// SaveEvery writes the history to path every interval until the returned
// stop is called; stop waits for a save under way to finish, so the caller
// may then save once more itself without two writers on one file. A failed
// save is logged and tried again at the next tick: the file it would have
// replaced is left whole.
func (e *Estimator) SaveEvery(path string, interval time.Duration, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				if err := e.Save(path); err != nil {
					log.Warn("periodic save of fee estimates failed", "path", path, "err", err)
				}
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
