package fence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrConfigCommand is returned by Eviction when Redis refuses CONFIG GET
// (managed Redis often disables or renames it).
var ErrConfigCommand = errors.New("fence: redis does not allow CONFIG GET")

// NoEviction is the only maxmemory-policy under which Redis never drops a
// fence key: every other policy (volatile-* included: fence keys have
// TTLs) may evict a sent record, and then the user can be sent twice.
const NoEviction = "noeviction"

// Eviction is what Redis says about dropping keys under memory pressure.
type Eviction struct {
	// Policy is maxmemory-policy; empty when CONFIG GET is refused (the
	// error is then ErrConfigCommand and EvictedKeys is still set).
	Policy string
	// EvictedKeys is INFO stats evicted_keys: keys dropped since the
	// server started; -1 when the server does not report it.
	EvictedKeys int64
}

// Eviction reads maxmemory-policy and evicted_keys.
func (f *Fence) Eviction(ctx context.Context) (Eviction, error) {
	var ev Eviction
	err := f.call(ctx, "info", func(ctx context.Context) error {
		info, err := f.rdb.Info(ctx, "stats").Result()
		if err != nil {
			return err
		}
		ev.EvictedKeys, err = infoInt(info, "evicted_keys")
		if errors.Is(err, errNoField) {
			ev.EvictedKeys, err = -1, nil
		}
		return err
	})
	if err != nil {
		return ev, err
	}
	var cfg map[string]string
	err = f.call(ctx, "config get", func(ctx context.Context) error {
		var err error
		cfg, err = f.rdb.ConfigGet(ctx, "maxmemory-policy").Result()
		return err
	})
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return ev, err
		}
		return ev, fmt.Errorf("%w: %w", ErrConfigCommand, err)
	}
	ev.Policy = cfg["maxmemory-policy"]
	if ev.Policy == "" {
		return ev, fmt.Errorf("%w: no maxmemory-policy in the answer", ErrConfigCommand)
	}
	return ev, nil
}

var errNoField = errors.New("fence: no such INFO field")

// infoInt finds "name:<int>" in an INFO answer.
func infoInt(info, name string) (int64, error) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("%w: %s", errNoField, name)
}
