package livetest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/secret"
	"github.com/sendonce/sendonce/pkg/sesfake"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestSecuredPublishSendStatus runs the real binaries against the real
// broker's SASL_SSL listener (TLS with the test CA, SCRAM-SHA-512) and the
// real Redis's TLS port (rediss:// with a password user), configured only
// through the environment as a deployment does: producer publish, sender
// run and retrier run, then producer status. Every user gets exactly one
// email, and no password shows in any output. A wrong password fails at
// start, after --startup-timeout, saying what to check.
func TestSecuredPublishSendStatus(t *testing.T) {
	kafka := testenv.SecuredKafka(t)
	rds := testenv.SecuredRedis(t)
	kafkaPW, err := secret.ReadFile(kafka.PasswordFile)
	require.NoError(t, err)
	redisPW, err := secret.ReadFile(rds.PasswordFile)
	require.NoError(t, err)
	bin := buildBinaries(t, repoRoot(t))

	ses := sesfake.New(sesfake.Config{MaxSendRate: 1000})
	require.NoError(t, ses.Start())
	t.Cleanup(func() { ses.Close() })
	require.NoError(t, ses.CreateTemplate("usage", "Usage {{name}}", "<p>{{kwh}}</p>", "{{kwh}}"))

	prefix := testenv.Name(t, "sec")
	env := append(withoutServiceEnv(os.Environ()),
		"KAFKA_BROKERS="+kafka.Brokers,
		"SENDONCE_KAFKA_SASL=scram-sha-512",
		"SENDONCE_KAFKA_USERNAME="+kafka.Username,
		"SENDONCE_KAFKA_PASSWORD_FILE="+kafka.PasswordFile,
		"SENDONCE_KAFKA_CA_FILE="+kafka.CAFile,
		"REDIS_URL="+rds.URL,
		"SENDONCE_REDIS_CA_FILE="+rds.CAFile,
		"SENDONCE_REDIS_PASSWORD_FILE="+rds.PasswordFile,
		"SENDONCE_TOPIC_PREFIX="+prefix, "AWS_ENDPOINT_URL_SESV2="+ses.URL(),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"SENDONCE_RETRY_TIERS=1s,2s", "SENDONCE_PARTITIONS=3", "SENDONCE_LOG_LEVEL=info",
		"SENDONCE_STARTUP_TIMEOUT=30s")

	const users = 100
	domain := prefix + ".test"
	csv := filepath.Join(t.TempDir(), "users.csv")
	var b strings.Builder
	b.WriteString("user_id,email,name,kwh\n")
	for i := range users {
		fmt.Fprintf(&b, "u%d,user%d@%s,User %d,%d\n", i, i, domain, i, i)
	}
	require.NoError(t, os.WriteFile(csv, []byte(b.String()), 0o644))
	out := run(t, env, bin["producer"], "publish", "--campaign", "secured", "--source", "csv:"+csv, "--template", "usage", "--from", "r@example.com")
	require.NotContains(t, out, kafkaPW)

	senderLog := startLogged(t, append(env, "METRICS_ADDR="+freeAddr(t)), bin["sender"], "run")
	retrierLog := startLogged(t, append(env, "METRICS_ADDR="+freeAddr(t)), bin["retrier"], "run")

	var st struct {
		Published, Sent int
		Complete        bool
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out := run(t, env, bin["producer"], "status", "--campaign", "secured", "--json")
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		if st.Complete {
			break
		}
		require.True(t, time.Now().Before(deadline), "campaign not complete in time over SASL_SSL: %s\nsender log:\n%s", out, readFile(senderLog))
		time.Sleep(500 * time.Millisecond)
	}
	require.Equal(t, users, st.Published)
	require.Equal(t, users, st.Sent)
	counts := ses.Recipients()
	require.Len(t, counts, users, "distinct recipients SES accepted")
	for to, n := range counts {
		require.Equal(t, 1, n, "emails to %s", to)
	}

	// A wrong Kafka password fails at once with the fix; a client without
	// TLS and SASL fails after --startup-timeout. Neither prints a password.
	wrong := filepath.Join(t.TempDir(), "wrong")
	require.NoError(t, os.WriteFile(wrong, []byte("not-"+kafkaPW), 0o600))
	msgs := []string{readFile(senderLog), readFile(retrierLog)}
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"wrong password", []string{"SENDONCE_KAFKA_PASSWORD_FILE=" + wrong}, []string{"refused the SASL credentials", "--kafka-password-file"}},
		{"no TLS, no SASL", []string{"SENDONCE_KAFKA_SASL=", "SENDONCE_KAFKA_USERNAME=", "SENDONCE_KAFKA_PASSWORD_FILE=", "SENDONCE_KAFKA_CA_FILE="}, []string{"kafka unreachable", "after --startup-timeout 3s", "--kafka-tls"}},
	} {
		start := time.Now()
		cmd := exec.Command(bin["retrier"], "redrive", "--startup-timeout", "3s")
		cmd.Env = append(env, tc.env...)
		msg, err := cmd.CombinedOutput()
		require.Error(t, err, "%s: %s", tc.name, msg)
		require.Less(t, time.Since(start), 20*time.Second, "%s: not a fast failure", tc.name)
		for _, w := range tc.want {
			require.Contains(t, string(msg), w, tc.name)
		}
		msgs = append(msgs, string(msg))
	}

	for _, text := range msgs {
		require.NotContains(t, text, kafkaPW)
		require.NotContains(t, text, redisPW)
	}
}

// withoutServiceEnv drops the caller's service addresses and settings, so
// that only what the test sets reaches the binaries.
func withoutServiceEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "KAFKA_") || strings.HasPrefix(kv, "REDIS_") || strings.HasPrefix(kv, "SENDONCE_") || strings.HasPrefix(kv, "METRICS_ADDR=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startLogged is start, returning the path of the process's log.
func startLogged(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), readFile(logf.Name()))
		}
	})
	return logf.Name()
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
