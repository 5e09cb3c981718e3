package deploytest

import (
	"bytes"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// composeFile is the part of the Compose specification docker-compose.yml
// uses. Decoding is strict: a key not listed here (a typo such as
// depend_on) fails the test; extend the struct when you use a new key.
type composeFile struct {
	Name       string                    `yaml:"name"`
	Services   map[string]composeService `yaml:"services"`
	Volumes    map[string]any            `yaml:"volumes"`
	Extensions map[string]any            `yaml:",inline"`
}

type composeService struct {
	Image           string                       `yaml:"image"`
	Build           *composeBuild                `yaml:"build"`
	Hostname        string                       `yaml:"hostname"`
	Command         []string                     `yaml:"command"`
	Environment     map[string]string            `yaml:"environment"`
	Ports           []string                     `yaml:"ports"`
	Expose          []string                     `yaml:"expose"`
	Volumes         []string                     `yaml:"volumes"`
	DependsOn       map[string]composeDependency `yaml:"depends_on"`
	Healthcheck     *composeHealthcheck          `yaml:"healthcheck"`
	Restart         string                       `yaml:"restart"`
	Profiles        []string                     `yaml:"profiles"`
	StopGracePeriod string                       `yaml:"stop_grace_period"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// sendonceServices are the compose services that run our binaries.
var sendonceServices = []string{"producer", "sender", "retrier"}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "docker-compose.yml")))
	dec.KnownFields(true)
	var f composeFile
	require.NoError(t, dec.Decode(&f), "docker-compose.yml")
	for k := range f.Extensions {
		require.True(t, strings.HasPrefix(k, "x-"), "docker-compose.yml: unknown top-level key %q", k)
	}
	require.NotEmpty(t, f.Services)
	return f
}

func TestComposeServices(t *testing.T) {
	f := loadCompose(t)
	for _, name := range []string{"kafka", "redis", "kafka-ui", "prometheus", "grafana", "ses", "producer", "sender", "retrier"} {
		require.Contains(t, f.Services, name, "docker-compose.yml: service %s is missing", name)
	}
	hostPorts := map[string]string{}
	for _, name := range sortedKeys(f.Services) {
		s := f.Services[name]
		t.Run(name, func(t *testing.T) {
			require.True(t, s.Image != "" || s.Build != nil, "needs image or build")
			if s.Build != nil {
				ctx := s.Build.Context
				require.Equal(t, ".", ctx, "build from the repository root")
				require.NotEmpty(t, s.Build.Dockerfile)
				require.FileExists(t, path(t, s.Build.Dockerfile))
			} else {
				ref := s.Image
				require.Regexp(t, `^[a-z0-9./-]+:[A-Za-z0-9._-]+$`, ref, "pin a tag")
				require.False(t, strings.HasSuffix(ref, ":latest"), "pin a tag, not latest")
			}
			for _, p := range s.Ports {
				// 127.0.0.1:HOST:CONTAINER: nothing of the local stack is
				// reachable from the network.
				parts := strings.Split(p, ":")
				require.Len(t, parts, 3, "port %q: want 127.0.0.1:HOST:CONTAINER", p)
				require.Equal(t, "127.0.0.1", parts[0], "port %q", p)
				for _, n := range parts[1:] {
					_, err := strconv.ParseUint(n, 10, 16)
					require.NoError(t, err, "port %q", p)
				}
				other, dup := hostPorts[parts[1]]
				require.False(t, dup, "host port %s used by %s and %s", parts[1], other, name)
				hostPorts[parts[1]] = name
			}
			for dep, d := range s.DependsOn {
				target, ok := f.Services[dep]
				require.True(t, ok, "depends_on %s: no such service", dep)
				require.Contains(t, []string{"service_started", "service_healthy", "service_completed_successfully"}, d.Condition, "depends_on %s", dep)
				if d.Condition == "service_healthy" {
					require.NotNil(t, target.Healthcheck, "depends_on %s: service_healthy needs a healthcheck on %s", dep, dep)
				}
			}
			for _, v := range s.Volumes {
				src, _, ok := strings.Cut(v, ":")
				require.True(t, ok, "volume %q", v)
				if strings.HasPrefix(src, ".") {
					require.True(t, fileExists(path(t, src)), "volume %q: %s does not exist", v, src)
				} else {
					require.Contains(t, f.Volumes, src, "volume %q: declare %s under volumes:", v, src)
				}
			}
			if s.Healthcheck != nil {
				require.NotEmpty(t, s.Healthcheck.Test)
				require.Contains(t, []string{"CMD", "CMD-SHELL"}, s.Healthcheck.Test[0])
			}
		})
	}
}

// TestComposeWiring checks that the services point at each other the way
// the infrastructure services are configured.
func TestComposeWiring(t *testing.T) {
	f := loadCompose(t)
	kafka := f.Services["kafka"].Environment
	require.Contains(t, kafka["KAFKA_PROCESS_ROLES"], "broker")
	require.Contains(t, kafka["KAFKA_PROCESS_ROLES"], "controller")
	require.NotEmpty(t, kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"])
	require.Equal(t, "1", kafka["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"])
	require.Equal(t, "1", kafka["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"])
	advertised := map[string]bool{}
	for _, l := range strings.Split(kafka["KAFKA_ADVERTISED_LISTENERS"], ",") {
		u, err := url.Parse(l)
		require.NoError(t, err)
		advertised[u.Host] = true
	}
	require.Contains(t, f.Services["redis"].Command, "--appendonly")
	require.Equal(t, "yes", f.Services["redis"].Command[indexOf(f.Services["redis"].Command, "--appendonly")+1], "Redis must run with AOF")
	require.True(t, advertised[f.Services["kafka-ui"].Environment["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"]], "kafka-ui must use an advertised listener")
	require.NotEmpty(t, f.Services["kafka-ui"].Environment["KAFKA_CLUSTERS_0_NAME"])

	scrape := prometheusJobs(t)
	for _, name := range sendonceServices {
		s := f.Services[name]
		env := s.Environment
		t.Run(name, func(t *testing.T) {
			require.Equal(t, name+"/Dockerfile", s.Build.Dockerfile)
			for _, b := range strings.Split(env["KAFKA_BROKERS"], ",") {
				require.True(t, advertised[b], "KAFKA_BROKERS %s is not an advertised listener of kafka (%v)", b, sortedKeys(advertised))
			}
			ru, err := url.Parse(env["REDIS_URL"])
			require.NoError(t, err)
			require.Equal(t, "redis", ru.Hostname(), "REDIS_URL must point at the redis service")
			require.Equal(t, "sendonce", env["SENDONCE_TOPIC_PREFIX"])
			for k := range env {
				require.True(t, k == "KAFKA_BROKERS" || k == "REDIS_URL" || k == "METRICS_ADDR" ||
					strings.HasPrefix(k, "SENDONCE_") || strings.HasPrefix(k, "AWS_"), "%s is not a name of the contract", k)
			}
			_, port, err := net.SplitHostPort(env["METRICS_ADDR"])
			require.NoError(t, err, "METRICS_ADDR")
			job := scrape["sendonce-"+name]
			require.Equal(t, name, job.host, "prometheus.yml job sendonce-%s must scrape the %s service", name, name)
			require.Equal(t, port, job.port, "prometheus.yml job sendonce-%s scrapes the wrong port", name)
			if name != "retrier" {
				ses, err := url.Parse(env["AWS_ENDPOINT_URL_SESV2"])
				require.NoError(t, err)
				require.Equal(t, "ses", ses.Hostname())
				require.Equal(t, "8005", ses.Port())
				require.NotEmpty(t, env["AWS_REGION"])
			}
			if name == "producer" {
				require.Equal(t, []string{"tools"}, s.Profiles, "the producer is a command: docker compose run producer ...")
				return
			}
			require.Equal(t, []string{"run"}, s.Command)
			drain, err := time.ParseDuration(env["SENDONCE_DRAIN_TIMEOUT"])
			require.NoError(t, err, "set SENDONCE_DRAIN_TIMEOUT explicitly")
			grace, err := time.ParseDuration(s.StopGracePeriod)
			require.NoError(t, err, "stop_grace_period")
			require.Greater(t, grace, drain, "stop_grace_period must exceed the drain timeout")
		})
	}
	// What the services must agree on.
	for _, k := range []string{"KAFKA_BROKERS", "SENDONCE_TOPIC_PREFIX", "SENDONCE_PARTITIONS", "SENDONCE_REPLICATION_FACTOR", "SENDONCE_RETRY_TIERS"} {
		for _, name := range sendonceServices {
			require.NotEmpty(t, f.Services[name].Environment[k], "%s: set %s", name, k)
			require.Equal(t, f.Services["sender"].Environment[k], f.Services[name].Environment[k], "sender and %s disagree on %s", name, k)
		}
	}
	require.Equal(t, f.Services["sender"].Environment["SENDONCE_MAX_ATTEMPTS"], f.Services["retrier"].Environment["SENDONCE_MAX_ATTEMPTS"])
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestComposeEnvIsRead checks every variable a sendonce service gets in
// docker-compose.yml against the flags of its binary (built and asked for
// --help).
func TestComposeEnvIsRead(t *testing.T) {
	f := loadCompose(t)
	for _, name := range sendonceServices {
		s := f.Services[name]
		t.Run(name, func(t *testing.T) {
			command := "run"
			if name == "producer" {
				command = "publish"
			}
			checkEnvNames(t, "docker-compose.yml service "+name, name, command, sortedKeys(s.Environment))
		})
	}
}

// ---------------------------------------------------------------- prometheus.yml

type promConfig struct {
	Global        map[string]any     `yaml:"global"`
	RuleFiles     []string           `yaml:"rule_files"`
	ScrapeConfigs []promScrapeConfig `yaml:"scrape_configs"`
}

type promScrapeConfig struct {
	JobName        string `yaml:"job_name"`
	ScrapeInterval string `yaml:"scrape_interval"`
	DNSSDConfigs   []struct {
		Names           []string `yaml:"names"`
		Type            string   `yaml:"type"`
		Port            int      `yaml:"port"`
		RefreshInterval string   `yaml:"refresh_interval"`
	} `yaml:"dns_sd_configs"`
	StaticConfigs []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
}

type scrapeTarget struct{ host, port string }

// prometheusJobs returns the first target of each job of prometheus.yml.
func prometheusJobs(t *testing.T) map[string]scrapeTarget {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "deploy", "prometheus", "prometheus.yml")))
	dec.KnownFields(true)
	var c promConfig
	require.NoError(t, dec.Decode(&c), "deploy/prometheus/prometheus.yml")
	require.Equal(t, []string{"alerts.yml"}, c.RuleFiles)
	out := map[string]scrapeTarget{}
	for _, sc := range c.ScrapeConfigs {
		switch {
		case len(sc.DNSSDConfigs) > 0 && len(sc.DNSSDConfigs[0].Names) > 0:
			out[sc.JobName] = scrapeTarget{sc.DNSSDConfigs[0].Names[0], strconv.Itoa(sc.DNSSDConfigs[0].Port)}
		case len(sc.StaticConfigs) > 0 && len(sc.StaticConfigs[0].Targets) > 0:
			h, p, err := net.SplitHostPort(sc.StaticConfigs[0].Targets[0])
			require.NoError(t, err)
			out[sc.JobName] = scrapeTarget{h, p}
		}
	}
	return out
}

var jobMatcher = regexp.MustCompile(`job\s*=\s*"([^"]+)"`)
