package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/retry"
)

// infra is the bench's own view of the shared Kafka and Redis: cleanup,
// memory and CPU of the services.
type infra struct {
	brokers  []string
	redisURL string
	rdb      *redis.Client
	adm      *kadm.Client
	kcl      *kgo.Client
	kafkaPID int
	redisPID int
}

func newInfra(root, brokers, redisURL string) (*infra, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	in := &infra{brokers: strings.Split(brokers, ","), redisURL: redisURL, rdb: redis.NewClient(opt)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("no answer from Redis at %s (run scripts/services.sh up): %w", redisURL, err)
	}
	in.kcl, err = kgo.NewClient(kgo.SeedBrokers(in.brokers...))
	if err != nil {
		return nil, err
	}
	in.adm = kadm.NewClient(in.kcl)
	if _, err := in.adm.BrokerMetadata(ctx); err != nil {
		return nil, fmt.Errorf("no answer from Kafka at %s (run scripts/services.sh up): %w", brokers, err)
	}
	in.kafkaPID = servicePID(root, ".cache/services/kafka/kafka.pid", "kafka")
	port := opt.Addr[strings.LastIndexByte(opt.Addr, ':')+1:]
	in.redisPID = servicePID(root, ".cache/services/redis/redis.pid", "redis-server")
	if in.redisPID != 0 && !cmdlineHas(in.redisPID, ":"+port) {
		in.redisPID = 0
	}
	return in, nil
}

func (in *infra) brokersString() string { return strings.Join(in.brokers, ",") }

func (in *infra) close() {
	_ = in.rdb.Close()
	in.kcl.Close()
}

// serviceCPU is the CPU used so far by Kafka and Redis (0 when their
// process is not on this machine).
func (in *infra) serviceCPU() (kafka, redis time.Duration) {
	if in.kafkaPID != 0 {
		kafka, _ = procCPU(in.kafkaPID)
	}
	if in.redisPID != 0 {
		redis, _ = procCPU(in.redisPID)
	}
	return kafka, redis
}

// redisMemory is INFO memory used_memory.
func (in *infra) redisMemory(ctx context.Context) (int64, error) {
	s, err := in.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	return infoInt(s, "used_memory")
}

func infoInt(info, field string) (int64, error) {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in INFO", field)
}

// redisKeys counts the keys of db 0 (to see other writers during a phase).
func (in *infra) redisKeys(ctx context.Context) int64 {
	n, _ := in.rdb.DBSize(ctx).Result()
	return n
}

// sampleMemory is the mean MEMORY USAGE of up to n keys matching pattern.
func (in *infra) sampleMemory(ctx context.Context, pattern string, n int) (float64, int, error) {
	var sum int64
	seen := 0
	iter := in.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) && seen < n {
		m, err := in.rdb.MemoryUsage(ctx, iter.Val(), 0).Result()
		if err != nil {
			return 0, 0, err
		}
		sum += m
		seen++
	}
	if err := iter.Err(); err != nil {
		return 0, 0, err
	}
	if seen == 0 {
		return 0, 0, nil
	}
	return float64(sum) / float64(seen), seen, nil
}

// cleanup deletes the topics and Redis keys of a bench prefix.
func (in *infra) cleanup(ctx context.Context, prefix string) error {
	var errs []string
	t := kafka.Topics{Prefix: prefix}
	// The topics listed, and those the bench's layouts name (a topic
	// created a moment ago may not be listed yet).
	mine := map[string]bool{}
	if topics, err := in.adm.ListTopics(ctx); err == nil {
		for _, name := range topics.Names() {
			if strings.HasPrefix(name, prefix+".") {
				mine[name] = true
			}
		}
	} else {
		errs = append(errs, "listing topics: "+err.Error())
	}
	for _, tiers := range []string{retry.FormatTiers(retry.DefaultTiers), rateRetryTiers} {
		d, _ := retry.ParseTiers(tiers)
		for _, sp := range (kafka.Layout{Topics: t, Tiers: d}).Specs() {
			mine[sp.Name] = true
		}
	}
	names := make([]string, 0, len(mine))
	for name := range mine {
		names = append(names, name)
	}
	res, err := in.adm.DeleteTopics(ctx, names...)
	if err != nil {
		errs = append(errs, "deleting topics: "+err.Error())
	}
	for _, r := range res {
		if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Sprintf("deleting topic %s: %v", r.Topic, r.Err))
		}
	}
	if res, err := in.adm.DeleteGroups(ctx, t.SenderGroup(), t.RetrierGroup()); err != nil {
		errs = append(errs, "deleting groups: "+err.Error())
	} else {
		for _, r := range res {
			if r.Err != nil && !errors.Is(r.Err, kerr.GroupIDNotFound) {
				errs = append(errs, fmt.Sprintf("deleting group %s: %v", r.Group, r.Err))
			}
		}
	}
	iter := in.rdb.Scan(ctx, 0, prefix+":*", 5000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			if err := in.rdb.Unlink(ctx, batch...).Err(); err != nil {
				errs = append(errs, "unlinking keys: "+err.Error())
			}
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 5000 {
			flush()
		}
	}
	flush()
	if err := iter.Err(); err != nil {
		errs = append(errs, "scanning keys: "+err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("cleanup of %s: %s", prefix, strings.Join(errs, "; "))
	}
	return nil
}

// waitAssigned waits until exactly members members of group consume topic
// and all its partitions are assigned.
func (in *infra) waitAssigned(ctx context.Context, group, topic string, partitions, members int) error {
	var got, covered int
	for {
		d, err := in.adm.DescribeGroups(ctx, group)
		if err == nil {
			g := d[group]
			got, covered = 0, 0
			for _, m := range g.Members {
				c, ok := m.Assigned.AsConsumer()
				if !ok {
					continue
				}
				for _, t := range c.Topics {
					if t.Topic == topic && len(t.Partitions) > 0 {
						got++
						covered += len(t.Partitions)
					}
				}
			}
			if g.State == "Stable" && got == members && covered == partitions {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s: %d of %d members consume %s, %d of %d partitions assigned: %w", group, got, members, topic, covered, partitions, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// topicBytes is the size on the broker's disk of each topic of prefix, by
// the name after "<prefix>." (nil when the broker does not say).
func (in *infra) topicBytes(ctx context.Context, prefix string) map[string]int64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	all, err := in.adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, dirs := range all {
		dirs.EachPartition(func(p kadm.DescribedLogDirPartition) {
			if name, ok := strings.CutPrefix(p.Topic, prefix+"."); ok {
				out[name] += p.Size
			}
		})
	}
	return out
}
