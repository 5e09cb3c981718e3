package deploytest

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/retry"
)

// triggerAuthentication mirrors the KEDA keda.sh/v1alpha1 fields the
// manifests use (strict decoding rejects any other).
type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		PodIdentity *struct {
			Provider      string `json:"provider"`
			IdentityOwner string `json:"identityOwner,omitempty"`
			RoleArn       string `json:"roleArn,omitempty"`
		} `json:"podIdentity,omitempty"`
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef,omitempty"`
	} `json:"spec"`
}

// kedaSASL is KEDA's kafka scaler spelling of each --kafka-sasl.
var kedaSASL = map[string]string{
	kafka.SASLPlain:       "plaintext",
	kafka.SASLScramSHA256: "scram_sha256",
	kafka.SASLScramSHA512: "scram_sha512",
	kafka.SASLAWSMSKIAM:   "oauthbearer", // with saslTokenProvider aws_msk_iam
}

// workloadEnvs is the environment of the sender, retrier and producer.
func workloadEnvs(t *testing.T, c *cluster) map[string]map[string]string {
	cj := c.CronJobs["sendonce-producer"]
	require.NotNil(t, cj)
	return map[string]map[string]string{
		"sender":   c.containerEnv(t, "sender", c.mustDeployment(t, "sendonce-sender", "sender").Spec.Template.Spec.Containers[0]),
		"retrier":  c.containerEnv(t, "retrier", c.mustDeployment(t, "sendonce-retrier", "retrier").Spec.Template.Spec.Containers[0]),
		"producer": c.containerEnv(t, "producer", cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]),
	}
}

// TestKEDAAuthenticatesLikeTheSenders: the three binaries reach Kafka the
// same way, and the ScaledObject's trigger (KEDA reads the senders' lag)
// uses that same TLS and SASL through a TriggerAuthentication, with no
// secret in the trigger itself. For MSK IAM the TriggerAuthentication uses
// the senders' own AWS identity, never a static key.
func TestKEDAAuthenticatesLikeTheSenders(t *testing.T) {
	for _, dir := range kustomizeDirs {
		t.Run(dir, func(t *testing.T) {
			c := renderCluster(t, dir)
			envs := workloadEnvs(t, c)
			env := envs["sender"]
			for _, k := range []string{"KAFKA_BROKERS", "SENDONCE_KAFKA_TLS", "SENDONCE_KAFKA_SASL", "SENDONCE_KAFKA_CA_FILE", "SENDONCE_KAFKA_USERNAME", "SENDONCE_KAFKA_PASSWORD_FILE"} {
				require.Equal(t, env[k], envs["retrier"][k], "sender and retrier disagree on %s", k)
				require.Equal(t, env[k], envs["producer"][k], "sender and producer disagree on %s", k)
			}
			for w, e := range envs {
				require.Empty(t, e["SENDONCE_KAFKA_PASSWORD"], "%s: the Kafka password belongs in a file (--kafka-password-file), not in the environment", w)
			}
			so := c.ScaledObjects["sendonce-sender"]
			require.NotNil(t, so)
			tr := so.Spec.Triggers[0]
			for _, k := range []string{"username", "password", "ca", "cert", "key", "awsAccessKeyID", "awsSecretAccessKey"} {
				require.Empty(t, tr.Metadata[k], "trigger metadata %s: credentials go in the TriggerAuthentication", k)
			}
			tlsOn := env["SENDONCE_KAFKA_TLS"] == "true" || env["SENDONCE_KAFKA_CA_FILE"] != ""
			if tlsOn {
				require.Equal(t, "enable", tr.Metadata["tls"], "the senders use TLS: so must KEDA")
			} else {
				require.Contains(t, []string{"", "disable"}, tr.Metadata["tls"])
			}
			referenced := map[string]bool{}
			if tr.AuthenticationRef != nil {
				referenced[tr.AuthenticationRef.Name] = true
				require.Contains(t, []string{"", "TriggerAuthentication"}, tr.AuthenticationRef.Kind)
				require.Contains(t, c.TriggerAuths, tr.AuthenticationRef.Name, "authenticationRef names a TriggerAuthentication that is not deployed")
			}
			for name := range c.TriggerAuths {
				require.True(t, referenced[name], "TriggerAuthentication %s is used by no trigger", name)
			}

			sasl := env["SENDONCE_KAFKA_SASL"]
			if sasl == "" {
				require.Contains(t, []string{"", "none"}, tr.Metadata["sasl"], "the senders use no SASL")
				return
			}
			require.Equal(t, kedaSASL[sasl], tr.Metadata["sasl"], "KEDA's sasl for --kafka-sasl %s", sasl)
			require.NotNil(t, tr.AuthenticationRef, "the senders authenticate to Kafka: KEDA needs a TriggerAuthentication")
			ta := c.TriggerAuths[tr.AuthenticationRef.Name]
			switch sasl {
			case kafka.SASLAWSMSKIAM:
				require.Equal(t, "aws_msk_iam", tr.Metadata["saslTokenProvider"])
				require.True(t, tlsOn, "MSK IAM needs TLS")
				require.Equal(t, env["AWS_REGION"], tr.Metadata["awsRegion"], "KEDA signs for the senders' region")
				require.NotNil(t, ta.Spec.PodIdentity, "MSK IAM: KEDA takes an AWS identity, not a static key")
				require.Equal(t, "aws", ta.Spec.PodIdentity.Provider)
				require.Equal(t, "workload", ta.Spec.PodIdentity.IdentityOwner, "KEDA uses the senders' own role (least privilege: it may describe the sender group)")
				require.Empty(t, ta.Spec.SecretTargetRef, "no static AWS keys")
				for _, b := range strings.Split(env["KAFKA_BROKERS"], ",") {
					_, port, err := net.SplitHostPort(b)
					require.NoError(t, err)
					require.Equal(t, "9098", port, "MSK's IAM listener is port 9098 (9092 is plaintext): %s", b)
				}
			default:
				params := map[string]bool{}
				for _, r := range ta.Spec.SecretTargetRef {
					params[r.Parameter] = true
				}
				require.True(t, params["username"] && params["password"], "SASL %s: the TriggerAuthentication takes username and password from a Secret", sasl)
			}
		})
	}
}

// mskPolicies are the Kafka permissions of each role (deploy/iam): which
// topics it must read and write, and its consumer group.
var mskPolicies = []struct {
	file, workload string
	read, write    func(kafka.Topics, []time.Duration) []string
	group          func(kafka.Topics) string
	// noLayout: the workload creates no topic (sender reconcile only
	// produces): it may describe only the topics it writes or reads.
	noLayout bool
}{
	{
		file: "sender-kafka-policy.json", workload: "sender",
		read: func(t kafka.Topics, _ []time.Duration) []string {
			return []string{t.Jobs(), t.PriorityJobs(), t.Control(), t.Ledger()}
		},
		write: func(t kafka.Topics, tiers []time.Duration) []string {
			return append(t.RetryTopics(tiers), t.DLQ(), t.Ledger(), t.Parked())
		},
		group: kafka.Topics.SenderGroup,
	},
	{
		file: "retrier-kafka-policy.json", workload: "retrier",
		read: func(t kafka.Topics, tiers []time.Duration) []string {
			return append(t.RetryTopics(tiers), t.DLQ(), t.Ledger())
		},
		write: func(t kafka.Topics, _ []time.Duration) []string {
			return []string{t.Jobs(), t.PriorityJobs(), t.DLQ(), t.Ledger()}
		},
		group: kafka.Topics.RetrierGroup,
	},
	{
		file: "reconcile-kafka-policy.json", workload: "reconcile",
		read: func(kafka.Topics, []time.Duration) []string { return []string{} },
		write: func(t kafka.Topics, _ []time.Duration) []string {
			return []string{t.Ledger(), t.DLQ()}
		},
		noLayout: true,
	},
	{
		file: "producer-kafka-policy.json", workload: "producer",
		read: func(t kafka.Topics, _ []time.Duration) []string {
			return []string{t.Jobs(), t.PriorityJobs(), t.Ledger(), t.Campaigns(), t.DLQ(), producer.MembersTopic(t), t.Parked(), t.Control()}
		},
		write: func(t kafka.Topics, _ []time.Duration) []string {
			return []string{t.Jobs(), t.PriorityJobs(), t.Ledger(), t.Campaigns(), t.Rejects(), producer.MembersTopic(t), t.Control()}
		},
	},
}

// TestMSKPoliciesTopicByTopic: on the production overlay's MSK cluster,
// each role's kafka-cluster actions name the topics of the production
// layout one by one (no topic wildcard), only its own consumer group, and
// cover what its workload does: create and describe the layout, read and
// write its topics, commit in its group, produce idempotently.
func TestMSKPoliciesTopicByTopic(t *testing.T) {
	c := renderCluster(t, "deploy/overlays/production")
	envs := workloadEnvs(t, c)
	env := envs["sender"]
	require.Equal(t, kafka.SASLAWSMSKIAM, env["SENDONCE_KAFKA_SASL"], "the production overlay signs in to MSK with IAM")
	tiers, err := retry.ParseTiers(env["SENDONCE_RETRY_TIERS"])
	require.NoError(t, err)
	topics := kafka.Topics{Prefix: env["SENDONCE_TOPIC_PREFIX"]}
	var layout []string
	for _, s := range (kafka.Layout{Topics: topics, Tiers: tiers}).Specs() {
		layout = append(layout, s.Name)
	}
	host, _, err := net.SplitHostPort(strings.Split(env["KAFKA_BROKERS"], ",")[0])
	require.NoError(t, err)
	clusterName := strings.Split(host, ".")[1] // b-1.<cluster>.kafka.<region>.amazonaws.com
	prefix := fmt.Sprintf("arn:aws:kafka:%s:", env["AWS_REGION"])
	clusterActions := map[string]bool{"kafka-cluster:Connect": true, "kafka-cluster:WriteDataIdempotently": true, "kafka-cluster:DescribeCluster": true}
	topicActions := map[string]bool{"kafka-cluster:CreateTopic": true, "kafka-cluster:DescribeTopic": true, "kafka-cluster:DescribeTopicDynamicConfiguration": true, "kafka-cluster:ReadData": true, "kafka-cluster:WriteData": true}
	groupActions := map[string]bool{"kafka-cluster:DescribeGroup": true, "kafka-cluster:AlterGroup": true}

	for _, pol := range mskPolicies {
		t.Run(pol.file, func(t *testing.T) {
			sa := c.ServiceAccounts["sendonce-"+pol.workload]
			require.NotNil(t, sa)
			require.Regexp(t, roleARN, sa.Annotations[irsaAnnotation], "%s signs in to MSK with IAM: its ServiceAccount needs an IRSA role", pol.workload)
			allowedTopics := map[string]bool{producer.MembersTopic(topics): true}
			for _, n := range layout {
				allowedTopics[n] = true
			}
			grants := map[string]map[string]bool{} // action → resource name (topic, group, or "cluster")
			grant := func(a, r string) {
				if grants[a] == nil {
					grants[a] = map[string]bool{}
				}
				grants[a][r] = true
			}
			for _, s := range loadPolicy(t, pol.file).Statement {
				require.Equal(t, "Allow", s.Effect, s.Sid)
				require.NotEmpty(t, s.Sid)
				for _, a := range s.Action {
					require.True(t, clusterActions[a] || topicActions[a] || groupActions[a], "%s: %s is not an action the workload calls", s.Sid, a)
					for _, r := range s.Resource {
						require.True(t, strings.HasPrefix(r, prefix), "%s: %s: resource %s is not in the overlay's region", s.Sid, a, r)
						parts := strings.Split(strings.SplitN(r, ":", 6)[5], "/") // kind/cluster/uuid/name
						require.GreaterOrEqual(t, len(parts), 3, r)
						require.Equal(t, clusterName, parts[1], "%s: %s is not the overlay's cluster", s.Sid, r)
						switch {
						case clusterActions[a]:
							require.Equal(t, "cluster", parts[0], "%s: %s on %s", s.Sid, a, r)
							grant(a, "cluster")
						case topicActions[a]:
							require.Equal(t, "topic", parts[0], "%s: %s on %s", s.Sid, a, r)
							require.Len(t, parts, 4, r)
							require.True(t, allowedTopics[parts[3]], "%s: %s on %s: not a topic of the production layout (and no wildcards)", s.Sid, a, parts[3])
							grant(a, parts[3])
						default:
							require.Equal(t, "group", parts[0], "%s: %s on %s", s.Sid, a, r)
							require.Len(t, parts, 4, r)
							require.NotNil(t, pol.group, "%s consumes in no group", pol.workload)
							require.Equal(t, pol.group(topics), parts[3], "%s: only the workload's own group", s.Sid)
							grant(a, parts[3])
						}
					}
				}
			}
			need := func(a string, names ...string) {
				for _, n := range names {
					require.True(t, grants[a][n], "%s lacks %s on %s", pol.file, a, n)
				}
			}
			need("kafka-cluster:Connect", "cluster")
			need("kafka-cluster:WriteDataIdempotently", "cluster") // franz-go produces idempotently
			if pol.noLayout {
				used := append(pol.read(topics, tiers), pol.write(topics, tiers)...)
				need("kafka-cluster:DescribeTopic", used...)
				require.ElementsMatch(t, used, sortedKeys(grants["kafka-cluster:DescribeTopic"]), "%s: describes only the topics it uses", pol.file)
				require.Empty(t, grants["kafka-cluster:CreateTopic"], "%s: the %s creates no topic", pol.file, pol.workload)
				require.Empty(t, grants["kafka-cluster:DescribeTopicDynamicConfiguration"], pol.file)
			} else {
				need("kafka-cluster:CreateTopic", layout...) // every other binary creates a missing layout
				need("kafka-cluster:DescribeTopic", layout...)
				need("kafka-cluster:DescribeTopicDynamicConfiguration", layout...)
			}
			need("kafka-cluster:ReadData", pol.read(topics, tiers)...)
			need("kafka-cluster:WriteData", pol.write(topics, tiers)...)
			if pol.group != nil {
				need("kafka-cluster:DescribeGroup", pol.group(topics))
				need("kafka-cluster:AlterGroup", pol.group(topics))
			} else {
				require.Empty(t, grants["kafka-cluster:DescribeGroup"], "%s: the %s has no consumer group", pol.file, pol.workload)
				require.Empty(t, grants["kafka-cluster:AlterGroup"], "%s: the %s has no consumer group", pol.file, pol.workload)
			}
			// Least privilege: reads and writes only where the workload needs them.
			for a, want := range map[string][]string{"kafka-cluster:ReadData": pol.read(topics, tiers), "kafka-cluster:WriteData": pol.write(topics, tiers)} {
				sort.Strings(want)
				require.ElementsMatch(t, want, sortedKeys(grants[a]), "%s: %s on exactly the topics the %s uses", pol.file, a, pol.workload)
			}
		})
	}
}
