package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// privateRedis is a redis-server of the bench's own, started like
// scripts/services.sh starts the shared one (AOF on, fsync every second,
// no RDB snapshots, noeviction), so that the Redis CPU of a phase is the
// phase's alone: the shared instance also serves whatever tests run on the
// machine meanwhile.
type privateRedis struct {
	addr, url string
	p         *proc
	dir       string
}

func startPrivateRedis(ctx context.Context, dir, logPath string) (*privateRedis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not on PATH: install it (scripts/services.sh up does) or run with --shared-redis")
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	p, err := startProc("redis-bench", bin, []string{"--port", port, "--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "everysec",
		"--dir", dir, "--save", "", "--protected-mode", "no", "--maxmemory-policy", "noeviction"}, nil, logPath)
	if err != nil {
		return nil, err
	}
	r := &privateRedis{addr: addr, url: "redis://" + addr + "/0", p: p, dir: dir}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for end := time.Now().Add(10 * time.Second); rdb.Ping(ctx).Err() != nil; {
		if time.Now().After(end) || p.exited() {
			r.stop()
			return nil, fmt.Errorf("the bench's redis-server on %s did not answer; see %s", addr, logPath)
		}
		select {
		case <-ctx.Done():
			r.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	logf("private redis-server on %s (data in %s)", addr, dir)
	return r, nil
}

func (r *privateRedis) stop() {
	_ = r.p.stop(10 * time.Second)
	_ = os.RemoveAll(r.dir)
}

// redisCPU is INFO CPU used_cpu_sys + used_cpu_user of the Redis the
// phases use: its main process, children (AOF rewrites) left out.
func (in *infra) redisCPU(ctx context.Context) (time.Duration, error) {
	s, err := in.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, f := range []string{"used_cpu_sys", "used_cpu_user"} {
		v, err := infoFloat(s, f)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return time.Duration(sum * float64(time.Second)), nil
}

func infoFloat(info, field string) (float64, error) {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			var f float64
			_, err := fmt.Sscanf(v, "%g", &f)
			return f, err
		}
	}
	return 0, fmt.Errorf("no %s in INFO", field)
}

// redisCommands is INFO commandstats: microseconds spent per command
// (commands run by scripts counted under their own names as well as in
// the script's EVALSHA).
func (in *infra) redisCommands(ctx context.Context) map[string]cmdStat {
	s, err := in.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]cmdStat{}
	for _, l := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		name, found := strings.CutPrefix(name, "cmdstat_")
		if !ok || !found {
			continue
		}
		var c cmdStat
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				fmt.Sscanf(v, "%d", &c.Calls)
			case "usec":
				fmt.Sscanf(v, "%d", &c.Usec)
			}
		}
		out[name] = c
	}
	return out
}

type cmdStat struct{ Calls, Usec int64 }

// commandsBetween is what each command cost between two INFO
// commandstats, busiest first.
func commandsBetween(a, z map[string]cmdStat) []namedStat {
	var out []namedStat
	for name, c := range z {
		d := cmdStat{Calls: c.Calls - a[name].Calls, Usec: c.Usec - a[name].Usec}
		if d.Calls > 0 {
			out = append(out, namedStat{name, d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Usec > out[j].Usec })
	return out
}

type namedStat struct {
	Name string
	cmdStat
}
