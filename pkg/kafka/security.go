package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sendonce/sendonce/pkg/awsconf"
	"github.com/sendonce/sendonce/pkg/secret"
)

// SASL mechanisms --kafka-sasl accepts.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
	SASLAWSMSKIAM   = "aws-msk-iam"
)

// Security says how to reach a secured cluster: TLS (server verification,
// optionally a client certificate) and SASL. The zero value is plaintext
// without authentication, which is what the local test broker speaks.
type Security struct {
	// TLS turns TLS on; CAFile, CertFile, KeyFile and ServerName imply it.
	TLS bool
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates
	// (empty: the system's CAs).
	CAFile string
	// CertFile and KeyFile are the client certificate and key (mTLS).
	CertFile, KeyFile string
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string
	// SASL is one of plain, scram-sha-256, scram-sha-512, aws-msk-iam
	// (empty: none).
	SASL string
	// Username and Password authenticate plain and scram. Password is the
	// literal secret; PasswordFile, when set, is read instead at start.
	Username     string
	Password     string
	PasswordFile string
	// AWS gives aws-msk-iam its credentials; nil loads the AWS SDK's default
	// chain (environment, profile, IRSA web identity, ECS/EC2 roles).
	AWS func(context.Context) (aws.CredentialsProvider, error)
}

// Errors returned by Security.Validate.
var (
	// ErrSASLMechanism is returned for an unknown --kafka-sasl.
	ErrSASLMechanism = errors.New("unknown --kafka-sasl: want plain, scram-sha-256, scram-sha-512 or aws-msk-iam")
	// ErrSASLCredentials is returned when plain or scram lacks a username or
	// password.
	ErrSASLCredentials = errors.New("--kafka-sasl plain and scram need --kafka-username and a password (--kafka-password-file or SENDONCE_KAFKA_PASSWORD)")
	// ErrClientCert is returned when only one of the client certificate and
	// key is given.
	ErrClientCert = errors.New("mTLS needs both --kafka-cert-file and --kafka-key-file")
)

// RegisterFlags binds the --kafka-* security flags.
func (s *Security) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&s.TLS, "kafka-tls", false, "connect to Kafka over TLS (system CAs unless --kafka-ca-file); implied by the other --kafka-*-file flags")
	fs.StringVar(&s.CAFile, "kafka-ca-file", "", "PEM file of the CAs that sign the Kafka brokers' certificates")
	fs.StringVar(&s.CertFile, "kafka-cert-file", "", "PEM client certificate for mTLS to Kafka")
	fs.StringVar(&s.KeyFile, "kafka-key-file", "", "PEM client key for mTLS to Kafka")
	fs.StringVar(&s.ServerName, "kafka-tls-server-name", "", "name to verify in the brokers' certificates (default: the broker's host)")
	fs.StringVar(&s.SASL, "kafka-sasl", "", "SASL mechanism: plain, scram-sha-256, scram-sha-512 or aws-msk-iam (AWS SDK credential chain, IRSA included); empty: none")
	fs.StringVar(&s.Username, "kafka-username", "", "SASL username (plain, scram)")
	fs.StringVar(&s.PasswordFile, "kafka-password-file", "", "file holding the SASL password (plain, scram)")
	fs.StringVar(&s.Password, "kafka-password", "", "SASL password; prefer --kafka-password-file or the environment variable (a flag shows in ps)")
}

// TLSEnabled reports whether connections use TLS.
func (s *Security) TLSEnabled() bool {
	return s.TLS || s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" || s.ServerName != ""
}

// Validate says what is wrong, in words. It does not read files.
func (s *Security) Validate() error {
	if (s.CertFile == "") != (s.KeyFile == "") {
		return ErrClientCert
	}
	switch s.SASL {
	case "", SASLAWSMSKIAM:
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			return fmt.Errorf("--kafka-username and the Kafka password are only for --kafka-sasl plain or scram (got --kafka-sasl %q)", s.SASL)
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.Username == "" || (s.Password == "" && s.PasswordFile == "") {
			return ErrSASLCredentials
		}
		if s.Password != "" && s.PasswordFile != "" {
			return errors.New("give the Kafka password once: --kafka-password-file or SENDONCE_KAFKA_PASSWORD, not both")
		}
	default:
		return fmt.Errorf("%w (got %q)", ErrSASLMechanism, s.SASL)
	}
	return nil
}

// Opts returns the client options of s: the TLS dialer and the SASL
// mechanism. It reads the CA, certificate, key and password files, and for
// aws-msk-iam loads the AWS credential chain, so a missing file fails at
// start with its flag named.
func (s *Security) Opts(ctx context.Context) ([]kgo.Opt, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if s.TLSEnabled() {
		cfg, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.SASL != "" {
		m, err := s.mechanism(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (s *Security) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kafka-ca-file %s holds no PEM certificate", s.CAFile)
		}
		cfg.RootCAs = pool
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-cert-file/--kafka-key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (s *Security) password() (string, error) {
	if s.PasswordFile == "" {
		return s.Password, nil
	}
	pw, err := secret.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("--kafka-password-file: %w", err)
	}
	return pw, nil
}

func (s *Security) mechanism(ctx context.Context) (sasl.Mechanism, error) {
	if s.SASL == SASLAWSMSKIAM {
		return s.mskIAM(ctx)
	}
	pw, err := s.password()
	if err != nil {
		return nil, err
	}
	switch s.SASL {
	case SASLPlain:
		return plain.Auth{User: s.Username, Pass: pw}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: s.Username, Pass: pw}.AsSha256Mechanism(), nil
	default:
		return scram.Auth{User: s.Username, Pass: pw}.AsSha512Mechanism(), nil
	}
}

// mskIAM signs each SASL session with fresh credentials from the provider:
// the SDK caches and refreshes them (IRSA tokens rotate hourly).
func (s *Security) mskIAM(ctx context.Context) (sasl.Mechanism, error) {
	load := s.AWS
	if load == nil {
		load = defaultAWSCredentials
	}
	prov, err := load(ctx)
	if err != nil {
		return nil, fmt.Errorf("--kafka-sasl aws-msk-iam: loading AWS credentials: %w", err)
	}
	if err := awsconf.Retrieve(ctx, prov, "--kafka-sasl aws-msk-iam"); err != nil {
		return nil, err
	}
	return saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
		c, err := prov.Retrieve(ctx)
		if err != nil {
			return saslaws.Auth{}, fmt.Errorf("refreshing AWS credentials for MSK IAM: %w", err)
		}
		return saslaws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken, UserAgent: "sendonce"}, nil
	}), nil
}

func defaultAWSCredentials(ctx context.Context) (aws.CredentialsProvider, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials == nil {
		return nil, errors.New("the AWS SDK found no credential provider")
	}
	return cfg.Credentials, nil
}
