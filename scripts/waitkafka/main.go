// Command waitkafka blocks until a Kafka cluster answers metadata requests.
//
// scripts/services.sh runs it after starting the local test broker so that
// tests never race a broker that is still booting:
//
//	go run ./scripts/waitkafka -brokers 127.0.0.1:39092 -timeout 90s
//
// It exits 0 once at least one broker is listed (and, with -min-brokers, at
// least that many), 1 on timeout, printing the last error it saw.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", envOr("KAFKA_BROKERS", "127.0.0.1:39092"), "comma-separated seed brokers")
	timeout := flag.Duration("timeout", 90*time.Second, "give up after this long")
	try := flag.Duration("try", 3*time.Second, "timeout of one metadata request")
	minBrokers := flag.Int("min-brokers", 1, "wait until at least this many brokers are listed")
	quiet := flag.Bool("q", false, "print nothing on success")
	flag.Parse()

	start := time.Now()
	n, err := wait(splitBrokers(*brokers), *timeout, *try, *minBrokers)
	if err != nil {
		fmt.Fprintf(os.Stderr, "waitkafka: %s not ready after %s: %v\n", *brokers, time.Since(start).Round(time.Millisecond), err)
		os.Exit(1)
	}
	if !*quiet {
		fmt.Printf("waitkafka: %s ready (%d broker(s)) after %s\n", *brokers, n, time.Since(start).Round(time.Millisecond))
	}
}

func wait(seeds []string, timeout, try time.Duration, minBrokers int) (int, error) {
	if len(seeds) == 0 {
		return 0, errors.New("no brokers given")
	}
	deadline := time.Now().Add(timeout)
	var last error = errors.New("no attempt made")
	for time.Now().Before(deadline) {
		n, err := probe(seeds, min(try, time.Until(deadline)))
		if err == nil && n >= minBrokers {
			return n, nil
		}
		if err == nil {
			err = fmt.Errorf("%d broker(s) listed, want %d", n, minBrokers)
		}
		last = err
		time.Sleep(min(250*time.Millisecond, max(time.Until(deadline), 0)))
	}
	return 0, last
}

// probe makes a fresh client each try so that no connection state or
// backoff carries over from a broker that was not listening yet.
func probe(seeds []string, try time.Duration) (int, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.DialTimeout(try),
		kgo.RequestRetries(0),
		kgo.RetryTimeout(try),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), try)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return 0, err
	}
	return len(md.Brokers), nil
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
