package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

type machine struct {
	CPUs     int
	CPUModel string
	MemGiB   float64
	Kernel   string
	Go       string
	Kafka    string
	Redis    string
	Load     string // /proc/loadavg at the start
	Commit   string
	RedisUse string // which Redis the phases used
}

func (m machine) oneLine() string {
	return fmt.Sprintf("%d × %s, %.0f GiB, %s, Kafka %s, Redis %s, load %s", m.CPUs, m.CPUModel, m.MemGiB, m.Go, m.Kafka, m.Redis, m.Load)
}

// describeMachine describes this machine, the services and the commit
// of root (the checkout the binaries were built from; svcRoot runs the
// services).
func describeMachine(ctx context.Context, in *infra, root, svcRoot string) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), CPUModel: "unknown", Kafka: "unknown", Redis: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemGiB = kb / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.Go = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	// The broker runs from the jars scripts/services.sh fetched.
	if jars, _ := filepath.Glob(filepath.Join(svcRoot, ".cache/kafka/libs/kafka_2.13-*.jar")); len(jars) > 0 {
		v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(jars[0]), "kafka_2.13-"), ".jar")
		m.Kafka = v + " (KRaft, one node)"
	}
	if s, err := in.rdb.Info(ctx, "server").Result(); err == nil {
		for _, l := range strings.Split(s, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
				m.Redis = v
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		// Uncommitted changes to Go files are in the binaries too.
		if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "*.go").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			m.Commit += " with uncommitted changes"
		}
	}
	return m
}
