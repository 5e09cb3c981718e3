package deploytest

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigyaml "sigs.k8s.io/yaml"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// The CRDs have no Go types in go.mod: these mirror the fields the manifests
// use (KEDA keda.sh/v1alpha1, Prometheus Operator monitoring.coreos.com/v1),
// so that strict decoding still rejects a misspelt or misplaced field.

type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		Advanced        *struct {
			HorizontalPodAutoscalerConfig *struct {
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel            string               `json:"jobLabel,omitempty"`
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []ruleGroup `json:"groups"`
	} `json:"spec"`
}

// ruleGroup is a Prometheus rule group (alerts.yml and PrometheusRule).
type ruleGroup struct {
	Name     string `json:"name" yaml:"name"`
	Interval string `json:"interval,omitempty" yaml:"interval,omitempty"`
	Rules    []rule `json:"rules" yaml:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty" yaml:"alert,omitempty"`
	Record      string            `json:"record,omitempty" yaml:"record,omitempty"`
	Expr        string            `json:"expr" yaml:"expr"`
	For         string            `json:"for,omitempty" yaml:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty" yaml:"annotations,omitempty"`
}

// cluster is a rendered kustomization, decoded strictly into API types.
type cluster struct {
	dir             string
	namespace       string
	Namespaces      map[string]*corev1.Namespace
	ConfigMaps      map[string]*corev1.ConfigMap
	Secrets         map[string]*corev1.Secret
	ServiceAccounts map[string]*corev1.ServiceAccount
	Deployments     map[string]*appsv1.Deployment
	CronJobs        map[string]*batchv1.CronJob
	PDBs            map[string]*policyv1.PodDisruptionBudget
	ScaledObjects   map[string]*scaledObject
	TriggerAuths    map[string]*triggerAuthentication
	PodMonitors     map[string]*podMonitor
	PrometheusRules map[string]*prometheusRule
	NetworkPolicies map[string]*networkingv1.NetworkPolicy
	// ExampleSecrets are the *.example.yaml Secrets: never applied, but they
	// document the keys of the Secrets an operator creates.
	ExampleSecrets map[string]*corev1.Secret
}

// apiVersions is the apiVersion each kind must use.
var apiVersions = map[string]string{
	"Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "ServiceAccount": "v1",
	"Deployment": "apps/v1", "CronJob": "batch/v1", "PodDisruptionBudget": "policy/v1",
	"ScaledObject": "keda.sh/v1alpha1", "TriggerAuthentication": "keda.sh/v1alpha1", "PodMonitor": "monitoring.coreos.com/v1", "PrometheusRule": "monitoring.coreos.com/v1",
	"NetworkPolicy": "networking.k8s.io/v1",
}

func decodeStrict(t *testing.T, o object, into any) {
	t.Helper()
	b, err := json.Marshal(o.Doc)
	require.NoError(t, err)
	require.NoError(t, sigyaml.UnmarshalStrict(b, into), "%s in %s does not decode strictly as %s", o.id(), o.File, o.Kind)
}

func put[T any](t *testing.T, m map[string]*T, o object) {
	t.Helper()
	v := new(T)
	decodeStrict(t, o, v)
	m[o.Name] = v
}

func renderCluster(t *testing.T, dir string) *cluster {
	t.Helper()
	c := &cluster{
		dir: dir, namespace: loadNamespace(t, dir),
		Namespaces: map[string]*corev1.Namespace{}, ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{},
		ServiceAccounts: map[string]*corev1.ServiceAccount{}, Deployments: map[string]*appsv1.Deployment{}, CronJobs: map[string]*batchv1.CronJob{},
		PDBs: map[string]*policyv1.PodDisruptionBudget{}, ScaledObjects: map[string]*scaledObject{}, TriggerAuths: map[string]*triggerAuthentication{}, PodMonitors: map[string]*podMonitor{},
		PrometheusRules: map[string]*prometheusRule{}, ExampleSecrets: map[string]*corev1.Secret{},
		NetworkPolicies: map[string]*networkingv1.NetworkPolicy{},
	}
	for _, o := range render(t, dir) {
		want, known := apiVersions[o.Kind]
		require.True(t, known, "%s in %s: kind %s is not checked by these tests; add it to apiVersions and renderCluster", o.id(), o.File, o.Kind)
		require.Equal(t, want, o.Doc["apiVersion"], "%s in %s", o.id(), o.File)
		switch o.Kind {
		case "Namespace":
			put(t, c.Namespaces, o)
		case "ConfigMap":
			put(t, c.ConfigMaps, o)
		case "Secret":
			put(t, c.Secrets, o)
		case "ServiceAccount":
			put(t, c.ServiceAccounts, o)
		case "Deployment":
			put(t, c.Deployments, o)
		case "CronJob":
			put(t, c.CronJobs, o)
		case "PodDisruptionBudget":
			put(t, c.PDBs, o)
		case "ScaledObject":
			put(t, c.ScaledObjects, o)
		case "TriggerAuthentication":
			put(t, c.TriggerAuths, o)
		case "PodMonitor":
			put(t, c.PodMonitors, o)
		case "PrometheusRule":
			put(t, c.PrometheusRules, o)
		case "NetworkPolicy":
			put(t, c.NetworkPolicies, o)
		}
	}
	for _, f := range yamlFiles(t, "deploy/base") {
		if !strings.HasSuffix(f, ".example.yaml") {
			continue
		}
		for _, o := range loadObjects(t, f) {
			require.Equal(t, "Secret", o.Kind, "%s: only example Secrets are expected", f)
			put(t, c.ExampleSecrets, o)
		}
	}
	return c
}

// loadNamespace is the namespace the kustomization in dir (or its base)
// sets.
func loadNamespace(t *testing.T, dir string) string {
	k := loadKustomization(t, dir)
	if k.Namespace != "" {
		return k.Namespace
	}
	for _, r := range k.Resources {
		rel := filepath.Clean(filepath.Join(dir, r))
		if fileExists(filepath.Join(path(t, rel), "kustomization.yaml")) {
			if ns := loadNamespace(t, rel); ns != "" {
				return ns
			}
		}
	}
	return ""
}

// containerEnv resolves the environment a container gets: envFrom sources in
// order, then env. A variable set by two envFrom sources is an error (which
// one wins is easy to get wrong).
func (c *cluster) containerEnv(t *testing.T, where string, ctr corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	from := map[string]string{}
	add := func(src, k, v string) {
		if prev, dup := from[k]; dup {
			t.Errorf("%s: %s is set by both %s and %s", where, k, prev, src)
		}
		from[k] = src
		env[k] = v
	}
	for _, ef := range ctr.EnvFrom {
		require.Empty(t, ef.Prefix, "%s: envFrom prefixes are not used", where)
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := c.ConfigMaps[ef.ConfigMapRef.Name]
			if !ok {
				require.True(t, ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional, "%s: ConfigMap %s does not exist", where, ef.ConfigMapRef.Name)
				continue
			}
			for _, k := range sortedKeys(cm.Data) {
				add("ConfigMap "+cm.Name, k, cm.Data[k])
			}
		case ef.SecretRef != nil:
			s, ok := c.Secrets[ef.SecretRef.Name]
			if !ok {
				s, ok = c.ExampleSecrets[ef.SecretRef.Name]
			}
			if !ok {
				require.True(t, ef.SecretRef.Optional != nil && *ef.SecretRef.Optional,
					"%s: Secret %s is neither in the manifests nor documented by a *.example.yaml, and not optional", where, ef.SecretRef.Name)
				continue
			}
			for _, k := range sortedKeys(s.StringData) {
				add("Secret "+s.Name, k, s.StringData[k])
			}
			for _, k := range sortedKeys(s.Data) {
				add("Secret "+s.Name, k, string(s.Data[k]))
			}
		}
	}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	return env
}

// workload is a pod template with its name, for the checks common to
// Deployments and the CronJob.
type workload struct {
	kind, name string
	labels     map[string]string
	spec       corev1.PodSpec
}

func (c *cluster) workloads() []workload {
	var out []workload
	for _, n := range sortedKeys(c.Deployments) {
		d := c.Deployments[n]
		out = append(out, workload{"Deployment", n, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for _, n := range sortedKeys(c.CronJobs) {
		cj := c.CronJobs[n]
		out = append(out, workload{"CronJob", n, cj.Spec.JobTemplate.Spec.Template.Labels, cj.Spec.JobTemplate.Spec.Template.Spec})
	}
	return out
}

// binaryOf maps a container image to the sendonce binary it runs.
func binaryOf(image string) string {
	name, _, _ := splitImage(image)
	return name[strings.LastIndex(name, "/")+1:]
}

func portOf(t *testing.T, where, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, "%s: METRICS_ADDR %q", where, addr)
	n, err := strconv.ParseInt(p, 10, 32)
	require.NoError(t, err, "%s: METRICS_ADDR %q", where, addr)
	return int32(n)
}

// probePort resolves a probe's port (a number or a container port name).
func probePort(t *testing.T, where string, ctr corev1.Container, p *corev1.Probe) int32 {
	t.Helper()
	require.NotNil(t, p.HTTPGet, "%s: probes are HTTP GETs", where)
	if p.HTTPGet.Port.IntValue() != 0 {
		return int32(p.HTTPGet.Port.IntValue())
	}
	for _, cp := range ctr.Ports {
		if cp.Name == p.HTTPGet.Port.String() {
			return cp.ContainerPort
		}
	}
	require.Failf(t, "unknown probe port", "%s: no container port named %q", where, p.HTTPGet.Port.String())
	return 0
}

var roleARN = regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$`)

const irsaAnnotation = "eks.amazonaws.com/role-arn"

func TestManifests(t *testing.T) {
	base := renderCluster(t, "deploy/base")
	for _, dir := range kustomizeDirs {
		t.Run(dir, func(t *testing.T) {
			c := renderCluster(t, dir)
			checkCluster(t, c)
			if dir != "deploy/base" {
				checkProduction(t, c, base)
			}
		})
	}
}

// checkCluster checks the invariants every rendering must keep.
func checkCluster(t *testing.T, c *cluster) {
	require.Contains(t, c.Namespaces, c.namespace, "the Namespace %s must be part of the manifests", c.namespace)
	for _, w := range c.workloads() {
		checkPod(t, c, w)
	}

	// The three binaries must agree on the topics, brokers and retry policy.
	sender := c.mustDeployment(t, "sendonce-sender", "sender")
	retrier := c.mustDeployment(t, "sendonce-retrier", "retrier")
	cj, ok := c.CronJobs["sendonce-producer"]
	require.True(t, ok, "CronJob sendonce-producer is missing")
	require.Len(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers, 1)
	sEnv := c.containerEnv(t, "sender", sender.Spec.Template.Spec.Containers[0])
	rEnv := c.containerEnv(t, "retrier", retrier.Spec.Template.Spec.Containers[0])
	pEnv := c.containerEnv(t, "producer", cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0])
	for _, k := range []string{"KAFKA_BROKERS", "SENDONCE_TOPIC_PREFIX", "SENDONCE_PARTITIONS", "SENDONCE_REPLICATION_FACTOR", "SENDONCE_RETRY_TIERS"} {
		require.NotEmpty(t, sEnv[k], "sender: set %s explicitly", k)
		require.Equal(t, sEnv[k], rEnv[k], "sender and retrier disagree on %s", k)
		require.Equal(t, sEnv[k], pEnv[k], "sender and producer disagree on %s", k)
	}
	for _, k := range []string{"SENDONCE_MAX_ATTEMPTS", "SENDONCE_DRAIN_TIMEOUT"} {
		require.NotEmpty(t, sEnv[k], "sender: set %s explicitly", k)
		require.Equal(t, sEnv[k], rEnv[k], "sender and retrier disagree on %s", k)
	}
	partitions, err := strconv.Atoi(sEnv["SENDONCE_PARTITIONS"])
	require.NoError(t, err, "SENDONCE_PARTITIONS")
	require.Positive(t, partitions)

	checkSender(t, c, sender, sEnv, partitions)
	checkRetrier(t, c, retrier, rEnv)
	checkReconcile(t, c, sEnv)
	checkProducer(t, c, cj, pEnv)
	checkPodMonitor(t, c)
	checkPrometheusRule(t, c)
	checkSecrets(t, c)
}

func (c *cluster) mustDeployment(t *testing.T, name, container string) *appsv1.Deployment {
	t.Helper()
	d, ok := c.Deployments[name]
	require.True(t, ok, "Deployment %s is missing", name)
	require.Len(t, d.Spec.Template.Spec.Containers, 1, "%s: one container", name)
	require.Equal(t, container, d.Spec.Template.Spec.Containers[0].Name)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "%s: the selector must match the pod template", name)
	return d
}

// checkPod checks what every sendonce pod needs: hardening, resources,
// metrics port, its ServiceAccount, and (against the built binary) flags.
func checkPod(t *testing.T, c *cluster, w workload) {
	where := w.kind + " " + w.name
	ps := w.spec
	require.Equal(t, "sendonce", w.labels["app.kubernetes.io/part-of"], "%s: pods carry app.kubernetes.io/part-of=sendonce", where)
	require.Equal(t, w.name, w.labels["app.kubernetes.io/name"], "%s: app.kubernetes.io/name is the job label of its metrics", where)
	sc := ps.SecurityContext
	require.NotNil(t, sc, "%s: pod securityContext", where)
	require.True(t, sc.RunAsNonRoot != nil && *sc.RunAsNonRoot, "%s: runAsNonRoot", where)
	require.True(t, sc.RunAsUser != nil && *sc.RunAsUser != 0, "%s: a numeric non-root runAsUser (distroless nonroot is 65532)", where)
	require.True(t, sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, "%s: seccompProfile RuntimeDefault", where)
	require.NotEmpty(t, ps.ServiceAccountName, "%s: serviceAccountName", where)
	require.Contains(t, c.ServiceAccounts, ps.ServiceAccountName, "%s: ServiceAccount %s does not exist", where, ps.ServiceAccountName)
	require.True(t, ps.AutomountServiceAccountToken != nil && !*ps.AutomountServiceAccountToken, "%s: no Kubernetes API token (the binaries never call the API)", where)
	volumes := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil {
			require.Contains(t, c.ConfigMaps, v.ConfigMap.Name, "%s: volume %s: ConfigMap %s does not exist", where, v.Name, v.ConfigMap.Name)
		}
	}
	for _, ctr := range ps.Containers {
		cw := where + " container " + ctr.Name
		csc := ctr.SecurityContext
		require.NotNil(t, csc, "%s: securityContext", cw)
		require.True(t, csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", cw)
		require.True(t, csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation false", cw)
		require.True(t, csc.Capabilities != nil && len(csc.Capabilities.Drop) == 1 && csc.Capabilities.Drop[0] == "ALL", "%s: drop ALL capabilities", cw)
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, ok := ctr.Resources.Requests[r]
			require.True(t, ok, "%s: requests.%s", cw, r)
			if lim, ok := ctr.Resources.Limits[r]; ok {
				require.LessOrEqual(t, req.Cmp(lim), 0, "%s: requests.%s above limits", cw, r)
			}
		}
		_, ok := ctr.Resources.Limits[corev1.ResourceMemory]
		require.True(t, ok, "%s: limits.memory", cw)
		name, tag, digest := splitImage(ctr.Image)
		require.True(t, tag != "" || digest != "", "%s: image %s has no tag", cw, ctr.Image)
		require.NotEqual(t, "latest", tag, "%s: image %s", cw, ctr.Image)
		require.Contains(t, []string{"producer", "sender", "retrier"}, binaryOf(name), "%s: image %s", cw, ctr.Image)
		for _, m := range ctr.VolumeMounts {
			require.Contains(t, volumes, m.Name, "%s: volumeMount %s has no volume", cw, m.Name)
		}
		env := c.containerEnv(t, cw, ctr)
		addr, ok := env["METRICS_ADDR"]
		require.True(t, ok, "%s: set METRICS_ADDR so the metrics port is explicit", cw)
		port := portOf(t, cw, addr)
		named := false
		for _, p := range ctr.Ports {
			if p.Name == "metrics" {
				require.Equal(t, port, p.ContainerPort, "%s: port metrics must be METRICS_ADDR's", cw)
				named = true
			}
		}
		require.True(t, named, "%s: a container port named metrics (the PodMonitor scrapes it)", cw)
	}
}

func checkSender(t *testing.T, c *cluster, d *appsv1.Deployment, env map[string]string, partitions int) {
	ctr := d.Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"run"}, ctr.Args)
	checkProbes(t, "sender", ctr, env)
	checkGrace(t, "sender", d.Spec.Template.Spec.TerminationGracePeriodSeconds, env)
	require.NotNil(t, d.Spec.Replicas)
	require.LessOrEqual(t, int(*d.Spec.Replicas), partitions, "sender replicas above the jobs topic's partitions would sit idle")
	sa := c.ServiceAccounts[d.Spec.Template.Spec.ServiceAccountName]
	require.Regexp(t, roleARN, sa.Annotations[irsaAnnotation], "the sender's ServiceAccount needs an IRSA role (SES)")

	so, ok := c.ScaledObjects["sendonce-sender"]
	require.True(t, ok, "ScaledObject sendonce-sender is missing")
	require.Equal(t, d.Name, so.Spec.ScaleTargetRef.Name)
	require.Contains(t, []string{"", "Deployment"}, so.Spec.ScaleTargetRef.Kind)
	require.NotNil(t, so.Spec.MaxReplicaCount)
	require.NotNil(t, so.Spec.MinReplicaCount)
	require.Equal(t, partitions, int(*so.Spec.MaxReplicaCount), "maxReplicaCount must equal SENDONCE_PARTITIONS")
	require.GreaterOrEqual(t, *so.Spec.MinReplicaCount, int32(1), "keep at least one sender (the alerts expect one)")
	require.LessOrEqual(t, *so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount)
	require.Len(t, so.Spec.Triggers, 1)
	tr := so.Spec.Triggers[0]
	require.Equal(t, "kafka", tr.Type)
	require.Equal(t, kafka.Topics{Prefix: env["SENDONCE_TOPIC_PREFIX"]}.SenderGroup(), tr.Metadata["consumerGroup"])
	require.Equal(t, kafka.Topics{Prefix: env["SENDONCE_TOPIC_PREFIX"]}.Jobs(), tr.Metadata["topic"], "the trigger must watch the jobs topic of the sender's prefix")
	require.Equal(t, env["KAFKA_BROKERS"], tr.Metadata["bootstrapServers"], "the trigger must use the sender's brokers")
	lag, err := strconv.Atoi(tr.Metadata["lagThreshold"])
	require.NoError(t, err, "lagThreshold")
	require.Positive(t, lag)
	require.Contains(t, []string{"", "false"}, tr.Metadata["allowIdleConsumers"], "idle consumers beyond the partitions are useless")
	require.Contains(t, []string{"", "earliest"}, tr.Metadata["offsetResetPolicy"], "the senders start new groups at the earliest offset")

	pdb, ok := c.PDBs["sendonce-sender"]
	require.True(t, ok, "PodDisruptionBudget sendonce-sender is missing")
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	require.NoError(t, err)
	require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "the PDB must select the senders")
	require.True(t, pdb.Spec.MaxUnavailable != nil || pdb.Spec.MinAvailable != nil)
	if pdb.Spec.MinAvailable != nil {
		require.Less(t, pdb.Spec.MinAvailable.IntValue(), int(*so.Spec.MinReplicaCount), "a minAvailable at the minimum replica count blocks every node drain")
	}
}

func checkRetrier(t *testing.T, c *cluster, d *appsv1.Deployment, env map[string]string) {
	ctr := d.Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"run"}, ctr.Args)
	checkProbes(t, "retrier", ctr, env)
	checkGrace(t, "retrier", d.Spec.Template.Spec.TerminationGracePeriodSeconds, env)
	require.NotNil(t, d.Spec.Replicas)
	require.GreaterOrEqual(t, *d.Spec.Replicas, int32(1))
	sa := c.ServiceAccounts[d.Spec.Template.Spec.ServiceAccountName]
	if env["SENDONCE_KAFKA_SASL"] == kafka.SASLAWSMSKIAM {
		require.Regexp(t, roleARN, sa.Annotations[irsaAnnotation], "the retrier signs in to MSK with IAM: it needs an IRSA role")
	} else {
		require.Empty(t, sa.Annotations[irsaAnnotation], "the retrier calls no AWS API: no IAM role")
	}
}

func checkProducer(t *testing.T, c *cluster, cj *batchv1.CronJob, env map[string]string) {
	require.Equal(t, "0 6 1 * *", cj.Spec.Schedule)
	require.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	require.NotNil(t, cj.Spec.StartingDeadlineSeconds)
	js := cj.Spec.JobTemplate.Spec
	require.NotNil(t, js.BackoffLimit)
	require.LessOrEqual(t, *js.BackoffLimit, int32(5))
	require.NotNil(t, js.ActiveDeadlineSeconds, "bound a stuck publish")
	ps := js.Template.Spec
	require.Contains(t, []corev1.RestartPolicy{corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}, ps.RestartPolicy)
	ctr := ps.Containers[0]
	require.NotEmpty(t, ctr.Args)
	require.Equal(t, "publish", ctr.Args[0])
	args := strings.Join(ctr.Args, " ")
	for _, f := range []string{"campaign", "template", "from", "source"} {
		require.True(t, env["SENDONCE_"+strings.ToUpper(f)] != "" || strings.Contains(args, "--"+f), "producer: --%s or SENDONCE_%s", f, strings.ToUpper(f))
	}
	if env["SENDONCE_SOURCE"] == "athena" {
		for i, a := range ctr.Args {
			if a == "--athena-query-file" {
				require.Greater(t, len(ctr.Args), i+1)
				file := ctr.Args[i+1]
				mounted := false
				for _, m := range ctr.VolumeMounts {
					if strings.HasPrefix(file, m.MountPath+"/") {
						mounted = true
					}
				}
				require.True(t, mounted, "producer: %s is on no volume", file)
			}
		}
		for _, k := range []string{"SENDONCE_ATHENA_DATABASE", "SENDONCE_ATHENA_WORKGROUP", "SENDONCE_ATHENA_OUTPUT"} {
			require.NotEmpty(t, env[k], "producer: %s", k)
		}
		require.True(t, strings.HasPrefix(env["SENDONCE_ATHENA_OUTPUT"], "s3://"), "SENDONCE_ATHENA_OUTPUT")
	}
	if exp := env["SENDONCE_EXPIRES_AT"]; exp != "" {
		_, err := time.Parse(time.RFC3339, exp)
		require.NoError(t, err, "SENDONCE_EXPIRES_AT")
	}
	require.NotContains(t, env["SENDONCE_CAMPAIGN"], ":", "campaign ids hold no colon (ledger keys are campaign:user)")
	sa := c.ServiceAccounts[ps.ServiceAccountName]
	require.Regexp(t, roleARN, sa.Annotations[irsaAnnotation], "the producer's ServiceAccount needs an IRSA role (Athena)")
}

func checkProbes(t *testing.T, where string, ctr corev1.Container, env map[string]string) {
	port := portOf(t, where, env["METRICS_ADDR"])
	require.NotNil(t, ctr.ReadinessProbe, "%s: readinessProbe", where)
	require.NotNil(t, ctr.LivenessProbe, "%s: livenessProbe", where)
	require.Equal(t, "/readyz", ctr.ReadinessProbe.HTTPGet.Path, where)
	require.Equal(t, "/healthz", ctr.LivenessProbe.HTTPGet.Path, where)
	require.Equal(t, port, probePort(t, where+" readiness", ctr, ctr.ReadinessProbe), "%s: readiness on the metrics port", where)
	require.Equal(t, port, probePort(t, where+" liveness", ctr, ctr.LivenessProbe), "%s: liveness on the metrics port", where)
}

func checkGrace(t *testing.T, where string, grace *int64, env map[string]string) {
	drain, err := time.ParseDuration(env["SENDONCE_DRAIN_TIMEOUT"])
	require.NoError(t, err, "%s: SENDONCE_DRAIN_TIMEOUT", where)
	require.NotNil(t, grace, "%s: terminationGracePeriodSeconds", where)
	require.Greater(t, time.Duration(*grace)*time.Second, drain, "%s: terminationGracePeriodSeconds must exceed the drain timeout %s, or SIGKILL cuts the drain short", where, drain)
}

func checkPodMonitor(t *testing.T, c *cluster) {
	require.Len(t, c.PodMonitors, 1)
	var pm *podMonitor
	for _, v := range c.PodMonitors {
		pm = v
	}
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	require.NoError(t, err)
	require.NotEmpty(t, pm.Spec.JobLabel)
	jobs := map[string]bool{}
	for _, w := range c.workloads() {
		if !sel.Matches(labels.Set(w.labels)) {
			t.Errorf("the PodMonitor does not select %s %s", w.kind, w.name)
			continue
		}
		jobs[w.labels[pm.Spec.JobLabel]] = true
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			found := false
			for _, ctr := range w.spec.Containers {
				for _, p := range ctr.Ports {
					found = found || p.Name == ep.Port
				}
			}
			require.True(t, found, "PodMonitor port %s: %s %s has no such port", ep.Port, w.kind, w.name)
		}
	}
	// The same job names as the local stack, so the dashboard and alerts
	// work on both.
	scrape := prometheusJobs(t)
	for job := range jobs {
		require.Contains(t, scrape, job, "job %s (from the PodMonitor) is not a job of prometheus.yml", job)
	}
	for _, job := range []string{"sendonce-sender", "sendonce-retrier", "sendonce-producer"} {
		require.True(t, jobs[job], "no pod gets the job label %s", job)
	}
}

func checkPrometheusRule(t *testing.T, c *cluster) {
	pr, ok := c.PrometheusRules["sendonce"]
	require.True(t, ok, "PrometheusRule sendonce is missing")
	require.Equal(t, loadAlerts(t), pr.Spec.Groups, "deploy/base/prometheusrule.yaml must hold exactly the groups of deploy/prometheus/alerts.yml")
}

// placeholder marks a value as an example, not a secret.
var placeholder = regexp.MustCompile(`(?i)change-?me`)

func checkSecrets(t *testing.T, c *cluster) {
	require.Empty(t, c.Secrets, "no Secret is applied by kustomize: create them out of band (see secret.example.yaml)")
	require.NotEmpty(t, c.ExampleSecrets)
	for _, s := range c.ExampleSecrets {
		require.Empty(t, s.Data, "Secret %s: use stringData placeholders", s.Name)
		for k, v := range s.StringData {
			require.Regexp(t, placeholder, v, "Secret %s: %s must hold CHANGE-ME where the secret goes", s.Name, k)
		}
	}
}

// checkProduction checks what only a production overlay must do.
func checkProduction(t *testing.T, c, base *cluster) {
	pinned := regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`)
	for _, w := range c.workloads() {
		for _, ctr := range w.spec.Containers {
			_, tag, digest := splitImage(ctr.Image)
			require.True(t, digest != "" || pinned.MatchString(tag), "%s %s: production images are pinned to a release tag or digest, not %q", w.kind, w.name, ctr.Image)
		}
	}
	env := func(cl *cluster) map[string]string {
		return cl.containerEnv(t, "sender", cl.Deployments["sendonce-sender"].Spec.Template.Spec.Containers[0])
	}
	prod, dev := env(c), env(base)
	require.NotEqual(t, dev["SENDONCE_TOPIC_PREFIX"], prod["SENDONCE_TOPIC_PREFIX"], "production has its own topic (and fence key) prefix")
	rf, err := strconv.Atoi(prod["SENDONCE_REPLICATION_FACTOR"])
	require.NoError(t, err)
	require.GreaterOrEqual(t, rf, 3, "production topics are replicated")
	for _, n := range []string{"sendonce-sender", "sendonce-producer", "sendonce-reconcile"} {
		require.NotEqual(t, base.ServiceAccounts[n].Annotations[irsaAnnotation], c.ServiceAccounts[n].Annotations[irsaAnnotation], "%s: production uses its own IAM role", n)
	}
	so := c.ScaledObjects["sendonce-sender"]
	require.GreaterOrEqual(t, *so.Spec.MinReplicaCount, *base.ScaledObjects["sendonce-sender"].Spec.MinReplicaCount)
	want := resource.MustParse("256Mi")
	got := c.Deployments["sendonce-sender"].Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory]
	require.GreaterOrEqual(t, got.Cmp(want), 0, "production senders get more memory")
}

// TestManifestEnvIsRead checks every variable and argument each container
// gets against the flags of its binary (built and asked for --help).
func TestManifestEnvIsRead(t *testing.T) {
	for _, dir := range kustomizeDirs {
		c := renderCluster(t, dir)
		for _, w := range c.workloads() {
			for _, ctr := range w.spec.Containers {
				where := fmt.Sprintf("%s: %s %s container %s", dir, w.kind, w.name, ctr.Name)
				t.Run(dir+"/"+w.name, func(t *testing.T) {
					bin := binaryOf(ctr.Image)
					require.NotEmpty(t, ctr.Args, "%s: give the command in args", where)
					checkArgs(t, where, bin, ctr.Args)
					checkEnvNames(t, where, bin, ctr.Args[0], sortedKeys(c.containerEnv(t, where, ctr)))
				})
			}
		}
	}
}
