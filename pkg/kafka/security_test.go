package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSecurityValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Security
		err  error
		msg  string
	}{
		{name: "plaintext", s: Security{}},
		{name: "tls with system CAs", s: Security{TLS: true}},
		{name: "scram-sha-512 with a file", s: Security{SASL: SASLScramSHA512, Username: "u", PasswordFile: "pw"}},
		{name: "plain with the env password", s: Security{SASL: SASLPlain, Username: "u", Password: "p"}},
		{name: "msk iam", s: Security{TLS: true, SASL: SASLAWSMSKIAM}},
		{name: "unknown mechanism", s: Security{SASL: "gssapi"}, err: ErrSASLMechanism},
		{name: "scram without user", s: Security{SASL: SASLScramSHA256, PasswordFile: "pw"}, err: ErrSASLCredentials},
		{name: "scram without password", s: Security{SASL: SASLScramSHA256, Username: "u"}, err: ErrSASLCredentials},
		{name: "password twice", s: Security{SASL: SASLPlain, Username: "u", Password: "p", PasswordFile: "pw"}, msg: "not both"},
		{name: "user without sasl", s: Security{Username: "u"}, msg: "only for --kafka-sasl"},
		{name: "iam with a password", s: Security{SASL: SASLAWSMSKIAM, Password: "p"}, msg: "only for --kafka-sasl"},
		{name: "cert without key", s: Security{CertFile: "c.pem"}, err: ErrClientCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			switch {
			case tt.err != nil:
				require.ErrorIs(t, err, tt.err)
			case tt.msg != "":
				require.ErrorContains(t, err, tt.msg)
			default:
				require.NoError(t, err)
			}
		})
	}
}

func TestTLSEnabledByAnyTLSFlag(t *testing.T) {
	require.False(t, (&Security{}).TLSEnabled())
	require.False(t, (&Security{SASL: SASLScramSHA512}).TLSEnabled(), "SASL alone is SASL_PLAINTEXT")
	for _, s := range []Security{{TLS: true}, {CAFile: "x"}, {CertFile: "x", KeyFile: "y"}, {ServerName: "x"}} {
		require.True(t, s.TLSEnabled(), "%+v", s)
	}
}

// TestSecuredClusterEveryMechanism runs kfake with TLS (a CA of the test)
// and SASL, and checks each mechanism end to end through NewClient: the
// right credentials produce and read back a record (ReadToEnd's own client
// inherits TLS and SASL), wrong ones fail at start with the fix.
func TestSecuredClusterEveryMechanism(t *testing.T) {
	pki := newTestPKI(t)
	for _, tt := range []struct{ flag, kfake string }{
		{SASLPlain, "PLAIN"}, {SASLScramSHA256, "SCRAM-SHA-256"}, {SASLScramSHA512, "SCRAM-SHA-512"},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"), kfake.TLS(pki.server), kfake.EnableSASL(), kfake.Superuser(tt.kfake, "app", "s3cret"))
			require.NoError(t, err)
			t.Cleanup(c.Close)
			pwFile := filepath.Join(t.TempDir(), "pw")
			require.NoError(t, os.WriteFile(pwFile, []byte("s3cret\n"), 0o600))
			sec := Security{CAFile: pki.caFile, SASL: tt.flag, Username: "app", PasswordFile: pwFile}
			ctx := context.Background()

			cl, err := NewClient(ClientConfig{Brokers: c.ListenAddrs(), Security: sec})
			require.NoError(t, err)
			defer cl.Close()
			require.NoError(t, WaitReachable(ctx, cl, c.ListenAddrs(), 10*time.Second))
			require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr())
			var got []string
			require.NoError(t, ReadToEnd(ctx, cl, []string{"t"}, func(r *kgo.Record) error { got = append(got, string(r.Value)); return nil }))
			require.Equal(t, []string{"v"}, got)

			bad := sec
			bad.PasswordFile, bad.Password = "", "wrong"
			cl2, err := NewClient(ClientConfig{Brokers: c.ListenAddrs(), Security: bad})
			require.NoError(t, err)
			defer cl2.Close()
			// kfake drops the connection where a real broker answers
			// SASL_AUTHENTICATION_FAILED (deploy/livetest checks that
			// answer ends the wait at once): either way start fails.
			err = WaitReachable(ctx, cl2, c.ListenAddrs(), 2*time.Second)
			require.ErrorContains(t, err, "--kafka-sasl")
		})
	}
}

// TestTLSFailuresAtStart: an untrusted certificate or a plaintext client
// fail within --startup-timeout with what to check.
func TestTLSFailuresAtStart(t *testing.T) {
	pki := newTestPKI(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(pki.server))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	other := newTestPKI(t)
	for name, sec := range map[string]Security{
		"another CA":       {CAFile: other.caFile},
		"plaintext client": {},
	} {
		t.Run(name, func(t *testing.T) {
			cl, err := NewClient(ClientConfig{Brokers: c.ListenAddrs(), Security: sec})
			require.NoError(t, err)
			defer cl.Close()
			err = WaitReachable(context.Background(), cl, c.ListenAddrs(), time.Second)
			require.ErrorContains(t, err, "after --startup-timeout 1s")
			require.ErrorContains(t, err, "--kafka-tls")
		})
	}
	cl, err := NewClient(ClientConfig{Brokers: c.ListenAddrs(), Security: Security{CAFile: pki.caFile}})
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, WaitReachable(context.Background(), cl, c.ListenAddrs(), 10*time.Second))
}

// TestMutualTLS: a cluster that requires client certificates takes the
// one of --kafka-cert-file/--kafka-key-file and refuses a client without.
func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	pool := x509.NewCertPool()
	pool.AddCert(pki.ca)
	srv := pki.server.Clone()
	srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, pool
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(srv))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	certFile, keyFile := pki.clientCert(t)

	cl, err := NewClient(ClientConfig{Brokers: c.ListenAddrs(), Security: Security{CAFile: pki.caFile, CertFile: certFile, KeyFile: keyFile}})
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, WaitReachable(context.Background(), cl, c.ListenAddrs(), 10*time.Second))

	anon, err := NewClient(ClientConfig{Brokers: c.ListenAddrs(), Security: Security{CAFile: pki.caFile}})
	require.NoError(t, err)
	defer anon.Close()
	require.ErrorContains(t, WaitReachable(context.Background(), anon, c.ListenAddrs(), time.Second), "after --startup-timeout")
}

// TestTLSServerName: brokers reached by IP whose certificate names only a
// host name are verified against --kafka-tls-server-name.
func TestTLSServerName(t *testing.T) {
	pki := newTestPKIFor(t, nil, []string{"broker.internal"})
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(pki.server))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	for name, tt := range map[string]struct {
		serverName string
		ok         bool
	}{"by IP": {"", false}, "with --kafka-tls-server-name": {"broker.internal", true}} {
		t.Run(name, func(t *testing.T) {
			cl, err := NewClient(ClientConfig{Brokers: c.ListenAddrs(), Security: Security{CAFile: pki.caFile, ServerName: tt.serverName}})
			require.NoError(t, err)
			defer cl.Close()
			err = WaitReachable(context.Background(), cl, c.ListenAddrs(), time.Second)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, "certificate")
			}
		})
	}
}

func TestOptsNamesTheFlagOfAMissingFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	for want, s := range map[string]Security{
		"--kafka-ca-file":                    {CAFile: filepath.Join(dir, "missing")},
		"holds no PEM certificate":           {CAFile: notPEM},
		"--kafka-cert-file/--kafka-key-file": {CertFile: notPEM, KeyFile: notPEM},
		"--kafka-password-file":              {SASL: SASLScramSHA512, Username: "u", PasswordFile: filepath.Join(dir, "missing")},
		"is empty":                           {SASL: SASLScramSHA512, Username: "u", PasswordFile: empty},
		"unknown --kafka-sasl":               {SASL: "kerberos"},
	} {
		_, err := s.Opts(context.Background())
		require.ErrorContains(t, err, want)
	}
}

type staticCreds struct {
	c   aws.Credentials
	err error
}

func (s staticCreds) Retrieve(context.Context) (aws.Credentials, error) { return s.c, s.err }

// TestMSKIAMCredentialsFromTheChain: aws-msk-iam takes the provider's
// credentials (the SDK chain in production, IRSA included) and, without
// any, fails at start naming what to set.
func TestMSKIAMCredentialsFromTheChain(t *testing.T) {
	ok := Security{TLS: true, SASL: SASLAWSMSKIAM, AWS: func(context.Context) (aws.CredentialsProvider, error) {
		return staticCreds{c: aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s"}}, nil
	}}
	m, err := ok.mechanism(context.Background())
	require.NoError(t, err)
	require.Equal(t, "AWS_MSK_IAM", m.Name())
	_, first, err := m.Authenticate(context.Background(), "b-1.msk.kafka.us-east-1.amazonaws.com:9098")
	require.NoError(t, err)
	require.Contains(t, string(first), `"x-amz-credential":"AKIA/`)

	none := ok
	none.AWS = func(context.Context) (aws.CredentialsProvider, error) {
		return staticCreds{err: errors.New("no EC2 IMDS role found")}, nil
	}
	_, err = none.Opts(context.Background())
	for _, w := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "IRSA"} {
		require.ErrorContains(t, err, w)
	}
}

// testPKI is a CA and a server certificate for 127.0.0.1.
type testPKI struct {
	caFile string
	server *tls.Config
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

// clientCert writes a client certificate and key signed by the CA (PEM)
// and returns their paths.
func (p testPKI) clientCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "sendonce-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	return newTestPKIFor(t, []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
}

// newTestPKIFor is newTestPKI with a server certificate for these names.
func newTestPKIFor(t *testing.T, ips []net.IP, dns []string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: ips, DNSNames: dns,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644))
	return testPKI{caFile: caFile, server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}, ca: caCert, caKey: caKey}
}
