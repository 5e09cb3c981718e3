package deploytest

import (
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// TestSenderTrustsNothing: production restricts what a job may ask for
// (allowed From addresses and templates, matching the campaign, or every
// job would be refused), keys the user_hash tag, and signs the unsubscribe
// link; every key file comes from a Secret volume the Secret documents.
// In any kustomization, allow-lists that are set must admit the campaign.
func TestSenderTrustsNothing(t *testing.T) {
	for _, dir := range kustomizeDirs {
		t.Run(dir, func(t *testing.T) {
			c := renderCluster(t, dir)
			sender := c.mustDeployment(t, "sendonce-sender", "sender")
			sEnv := c.containerEnv(t, "sender", sender.Spec.Template.Spec.Containers[0])
			cj := c.CronJobs["sendonce-producer"]
			require.NotNil(t, cj)
			pSpec := cj.Spec.JobTemplate.Spec.Template.Spec
			pEnv := c.containerEnv(t, "producer", pSpec.Containers[0])

			from, err := mail.ParseAddress(pEnv["SENDONCE_FROM"])
			require.NoError(t, err, "SENDONCE_FROM")
			addr := strings.ToLower(from.Address)
			if list := sEnv["SENDONCE_ALLOWED_FROM"]; list != "" {
				ok := false
				for _, a := range strings.Split(list, ",") {
					a = strings.ToLower(strings.TrimSpace(a))
					ok = ok || a == addr || a == addr[strings.LastIndexByte(addr, '@')+1:]
				}
				require.True(t, ok, "SENDONCE_ALLOWED_FROM %q refuses the campaign's From %s: every job would be dead-lettered", list, addr)
			}
			if list := sEnv["SENDONCE_ALLOWED_TEMPLATES"]; list != "" {
				require.Contains(t, strings.Split(list, ","), pEnv["SENDONCE_TEMPLATE"], "SENDONCE_ALLOWED_TEMPLATES refuses the campaign's template")
			}
			if dir == "deploy/base" {
				return
			}
			require.NotEmpty(t, sEnv["SENDONCE_ALLOWED_FROM"], "production: set the senders' allowed From addresses")
			require.NotEmpty(t, sEnv["SENDONCE_ALLOWED_TEMPLATES"], "production: set the senders' allowed templates")
			c.checkSecretFile(t, "sender", sender.Spec.Template.Spec, sEnv["SENDONCE_USER_HASH_KEY_FILE"])
			u, err := url.Parse(pEnv["SENDONCE_UNSUBSCRIBE_URL"])
			require.NoError(t, err)
			require.Equal(t, "https", u.Scheme, "production: an https unsubscribe URL")
			require.Contains(t, pEnv["SENDONCE_UNSUBSCRIBE_URL"], "{{token}}", "production: a signed unsubscribe link")
			c.checkSecretFile(t, "producer", pSpec, pEnv["SENDONCE_UNSUBSCRIBE_KEY_FILE"])
		})
	}
}

// checkSecretFile checks that file is a read-only mount of a key of a
// documented Secret.
func (c *cluster) checkSecretFile(t *testing.T, where string, ps corev1.PodSpec, file string) {
	t.Helper()
	require.NotEmpty(t, file, "%s: the key file is not set", where)
	vols := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		vols[v.Name] = v
	}
	for _, m := range ps.Containers[0].VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, file)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		v := vols[m.Name]
		require.NotNil(t, v.Secret, "%s: %s is not on a Secret volume", where, file)
		require.True(t, m.ReadOnly, "%s: mount %s read-only", where, m.MountPath)
		key := rel
		for _, it := range v.Secret.Items {
			if it.Path == rel {
				key = it.Key
			}
		}
		s, ok := c.ExampleSecrets[v.Secret.SecretName]
		require.True(t, ok, "%s: Secret %s is not documented by a *.example.yaml", where, v.Secret.SecretName)
		require.Contains(t, s.StringData, key, "%s: Secret %s has no key %s", where, v.Secret.SecretName, key)
		return
	}
	t.Fatalf("%s: %s is on no volume mount", where, file)
}

// TestSenderIAMAllowsOnlyTheAllowedFrom: even a sender that ignored its
// --allowed-from could not send from another address: the role's SES
// statements carry a ses:FromAddress condition with exactly the production
// allow-list (a domain as *@domain).
func TestSenderIAMAllowsOnlyTheAllowedFrom(t *testing.T) {
	c := renderCluster(t, "deploy/overlays/production")
	sender := c.mustDeployment(t, "sendonce-sender", "sender")
	env := c.containerEnv(t, "sender", sender.Spec.Template.Spec.Containers[0])
	var want []string
	for _, a := range strings.Split(env["SENDONCE_ALLOWED_FROM"], ",") {
		a = strings.ToLower(strings.TrimSpace(a))
		if !strings.Contains(a, "@") {
			a = "*@" + a
		}
		want = append(want, a)
	}
	p := loadPolicy(t, "sender-policy.json")
	n := 0
	for _, s := range p.Statement {
		for _, a := range s.Action {
			if a != "ses:SendEmail" && a != "ses:SendBulkEmail" {
				continue
			}
			n++
			like, _ := s.Condition["StringLike"].(map[string]any)
			require.NotNil(t, like, "%s: %s without a StringLike ses:FromAddress condition", s.Sid, a)
			var got []string
			switch v := like["ses:FromAddress"].(type) {
			case string:
				got = []string{v}
			case []any:
				for _, x := range v {
					got = append(got, x.(string))
				}
			}
			require.ElementsMatch(t, want, got, "%s: ses:FromAddress must be the production --allowed-from", s.Sid)
		}
	}
	require.Positive(t, n)
}
