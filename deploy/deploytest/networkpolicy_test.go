package deploytest

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigyaml "sigs.k8s.io/yaml"
)

// redriveJob is the one-off redrive Job (not part of a kustomization).
const redriveJob = "deploy/jobs/retrier-redrive.yaml"

// TestNetworkPolicy: in every kustomization, the namespace denies all
// traffic by default; a sendonce pod accepts only Prometheus on its metrics
// port and reaches only DNS, its Kafka brokers' port, HTTPS (AWS APIs) and,
// only when it uses Redis, Redis's port.
func TestNetworkPolicy(t *testing.T) {
	for _, dir := range kustomizeDirs {
		t.Run(dir, func(t *testing.T) {
			c := renderCluster(t, dir)
			var deny bool
			for _, np := range c.NetworkPolicies {
				s := np.Spec
				if len(s.PodSelector.MatchLabels) == 0 && len(s.PodSelector.MatchExpressions) == 0 &&
					len(s.Ingress) == 0 && len(s.Egress) == 0 && hasTypes(s.PolicyTypes, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress) {
					deny = true
				}
			}
			require.True(t, deny, "a default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules) is missing")

			pods := c.workloads()
			job := loadRedriveJob(t)
			pods = append(pods, workload{"Job", "sendonce-redrive", job.Spec.Template.Labels, job.Spec.Template.Spec})
			for _, w := range pods {
				ctr := w.spec.Containers[0]
				where := w.kind + " " + w.name
				env := c.containerEnv(t, where, ctr)
				in, out := c.rulesFor(w.labels)
				checkIngress(t, where, in, ctr)
				checkEgress(t, where, out, env)
			}
		})
	}
}

// TestRedisSecretOnlyWhereUsed: the producer's publish and the retrier's run
// never talk to Redis, so their pods do not get the Redis secret; the
// sender, the reconciler (the fence) and the redrive Job do.
func TestRedisSecretOnlyWhereUsed(t *testing.T) {
	for _, dir := range kustomizeDirs {
		c := renderCluster(t, dir)
		secrets := func(ps corev1.PodSpec) []string {
			var out []string
			for _, ctr := range ps.Containers {
				for _, ef := range ctr.EnvFrom {
					if ef.SecretRef != nil {
						out = append(out, ef.SecretRef.Name)
					}
				}
				for _, e := range ctr.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						out = append(out, e.ValueFrom.SecretKeyRef.Name)
					}
				}
			}
			for _, v := range ps.Volumes {
				if v.Secret != nil {
					out = append(out, v.Secret.SecretName)
				}
			}
			return out
		}
		for _, w := range c.workloads() {
			if w.name == "sendonce-sender" || w.name == "sendonce-reconcile" {
				require.Contains(t, secrets(w.spec), "sendonce-redis", "%s: %s needs Redis", dir, w.name)
				continue
			}
			require.NotContains(t, secrets(w.spec), "sendonce-redis", "%s: %s does not use Redis: it must not get its credentials", dir, w.name)
		}
	}
	require.Contains(t, loadRedriveJob(t).Spec.Template.Spec.Containers[0].EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sendonce-redis"}}})
}

// TestRedriveJob: the one-off Job runs `retrier redrive` as the retrier,
// hardened like every other pod, with variables redrive reads.
func TestRedriveJob(t *testing.T) {
	job := loadRedriveJob(t)
	require.Empty(t, job.Name, "generateName, so that each create is a new Job")
	require.Equal(t, "sendonce-redrive-", job.GenerateName)
	c := renderCluster(t, "deploy/base")
	ps := job.Spec.Template.Spec
	require.Equal(t, corev1.RestartPolicyNever, ps.RestartPolicy)
	require.NotNil(t, job.Spec.TTLSecondsAfterFinished)
	require.Equal(t, "sendonce-retrier", ps.ServiceAccountName)
	require.True(t, ps.AutomountServiceAccountToken != nil && !*ps.AutomountServiceAccountToken)
	require.True(t, ps.SecurityContext != nil && ps.SecurityContext.RunAsNonRoot != nil && *ps.SecurityContext.RunAsNonRoot)
	require.Len(t, ps.Containers, 1)
	ctr := ps.Containers[0]
	require.Equal(t, "retrier", binaryOf(ctr.Image))
	require.Equal(t, "redrive", ctr.Args[0])
	checkArgs(t, redriveJob, "retrier", ctr.Args)
	csc := ctr.SecurityContext
	require.True(t, csc != nil && csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem)
	require.True(t, csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation)
	env := c.containerEnv(t, redriveJob, ctr)
	checkEnvNames(t, redriveJob, "retrier", "redrive", sortedKeys(env))
	require.NotContains(t, env, "SENDONCE_CAMPAIGN", "a redrive of every campaign unless asked")
	require.Equal(t, "redrive", job.Spec.Template.Labels["app.kubernetes.io/component"])
}

func loadRedriveJob(t *testing.T) *batchv1.Job {
	t.Helper()
	docs := splitYAML(readFile(t, redriveJob))
	require.Len(t, docs, 1, redriveJob)
	j := new(batchv1.Job)
	require.NoError(t, sigyaml.UnmarshalStrict(docs[0], j), "%s does not decode strictly as a Job", redriveJob)
	require.Equal(t, "Job", j.Kind)
	require.Equal(t, "batch/v1", j.APIVersion)
	return j
}

func hasTypes(have []networkingv1.PolicyType, want ...networkingv1.PolicyType) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// rulesFor returns the ingress and egress rules of every policy selecting a
// pod with these labels.
func (c *cluster) rulesFor(podLabels map[string]string) (in []networkingv1.NetworkPolicyIngressRule, out []networkingv1.NetworkPolicyEgressRule) {
	for _, np := range c.NetworkPolicies {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(podLabels)) {
			continue
		}
		in = append(in, np.Spec.Ingress...)
		out = append(out, np.Spec.Egress...)
	}
	return in, out
}

func checkIngress(t *testing.T, where string, rules []networkingv1.NetworkPolicyIngressRule, ctr corev1.Container) {
	t.Helper()
	require.NotEmpty(t, rules, "%s: no ingress for Prometheus", where)
	for _, r := range rules {
		require.NotEmpty(t, r.From, "%s: an ingress rule open to every source", where)
		require.NotEmpty(t, r.Ports, "%s: an ingress rule open on every port", where)
		for _, p := range r.From {
			require.Nil(t, p.IPBlock, "%s: ingress from an address range", where)
			require.NotNil(t, p.NamespaceSelector, "%s: ingress must name Prometheus's namespace", where)
			require.NotNil(t, p.PodSelector, "%s: ingress must name Prometheus's pods", where)
			require.Equal(t, "prometheus", p.PodSelector.MatchLabels["app.kubernetes.io/name"], "%s: ingress from Prometheus only", where)
		}
		for _, p := range r.Ports {
			require.NotNil(t, p.Port, "%s: ingress on every port", where)
			ok := p.Port.StrVal == "metrics"
			for _, cp := range ctr.Ports {
				ok = ok || (cp.Name == "metrics" && p.Port.IntValue() == int(cp.ContainerPort))
			}
			require.True(t, ok, "%s: ingress on port %s, not the metrics port", where, p.Port.String())
		}
	}
}

// allowed reports whether an egress rule lets TCP/UDP to port through.
func allowed(rules []networkingv1.NetworkPolicyEgressRule, proto corev1.Protocol, port int, dns bool) bool {
	for _, r := range rules {
		for _, p := range r.Ports {
			pr := corev1.ProtocolTCP
			if p.Protocol != nil {
				pr = *p.Protocol
			}
			if pr != proto || p.Port == nil || p.Port.IntValue() != port {
				continue
			}
			if !dns {
				return true
			}
			for _, to := range r.To {
				if to.PodSelector != nil && to.PodSelector.MatchLabels["k8s-app"] == "kube-dns" {
					return true
				}
			}
		}
	}
	return false
}

func checkEgress(t *testing.T, where string, rules []networkingv1.NetworkPolicyEgressRule, env map[string]string) {
	t.Helper()
	for _, r := range rules {
		require.NotEmpty(t, r.Ports, "%s: an egress rule open on every port", where)
		require.NotEmpty(t, r.To, "%s: an egress rule open to every destination", where)
	}
	require.True(t, allowed(rules, corev1.ProtocolUDP, 53, true), "%s: DNS over UDP to kube-dns", where)
	require.True(t, allowed(rules, corev1.ProtocolTCP, 53, true), "%s: DNS over TCP to kube-dns", where)
	require.True(t, allowed(rules, corev1.ProtocolTCP, 443, false), "%s: HTTPS for the AWS APIs", where)
	brokers := env["KAFKA_BROKERS"]
	require.NotEmpty(t, brokers, "%s: KAFKA_BROKERS", where)
	for _, b := range strings.Split(brokers, ",") {
		_, p, err := net.SplitHostPort(strings.TrimSpace(b))
		require.NoError(t, err, "%s: broker %q", where, b)
		port, err := strconv.Atoi(p)
		require.NoError(t, err)
		require.True(t, allowed(rules, corev1.ProtocolTCP, port, false), "%s: Kafka at %s is not allowed", where, b)
	}
	redisPort := 6379
	if u, err := url.Parse(env["REDIS_URL"]); err == nil && u.Port() != "" {
		redisPort, _ = strconv.Atoi(u.Port())
	}
	_, usesRedis := env["REDIS_URL"]
	require.Equal(t, usesRedis, allowed(rules, corev1.ProtocolTCP, redisPort, false),
		"%s: Redis (port %d) must be reachable exactly when the pod uses it (REDIS_URL set: %v)", where, redisPort, usesRedis)
}
