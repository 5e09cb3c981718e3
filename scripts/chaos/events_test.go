package chaos

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sendonce/sendonce/pkg/sesevents"
)

// SES's events in the modes that have them: the proxy tells a
// sesevents.Publisher about every email the emulator accepted (also those
// it then answers 503), the publisher posts SES's Send event to an SNS
// topic of the run after a random delay (some twice), SNS fans it out to
// the run's SQS queue, and `sender reconcile` settles the fence from it.
// Topic and queue live in a private moto_server of the run (see
// motoServer); the reconciler is restarted like the other services, moto
// is not (SQS keeps its messages).

// events is the event pipeline of one run.
type events struct {
	moto               *motoServer
	topicARN, queueURL string
	// raw: the queue's subscription delivers the bare event (raw message
	// delivery); otherwise SNS's notification envelope wraps it.
	raw bool
	pub *sesevents.Publisher
}

// userKeyFile writes the run's --user-hash-key-file: 32 random bytes that
// the senders seal the user_ref tag with and the reconciler opens it with.
func (r *run) userKeyFile() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	path := filepath.Join(r.dir, "user-hash.key")
	if err := os.WriteFile(path, key, 0o600); err != nil {
		r.t.Fatal(err)
	}
	return path
}

// setupEvents starts the run's moto, creates the topic and the queue,
// subscribes the queue, and starts the publisher the proxy will tell.
func (r *run) setupEvents() {
	t := r.t
	moto := startMoto(t, r.ps, r.root, r.sub("moto"))
	ctx, cancel := context.WithTimeout(bg(), time.Minute)
	defer cancel()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx) // region and test credentials of the services env
	if err != nil {
		t.Fatalf("loading the AWS config for moto: %v", err)
	}
	sn := sns.NewFromConfig(awsCfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(moto.url()) })
	sq := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(moto.url()) })
	name := r.prefix + "-ses-events"
	top, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("creating the SNS topic %s on the run's moto: %v", name, err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		// Short, so that the events a SIGKILLed reconciler had received
		// come back well within --resolve-after.
		string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(queueVisibility / time.Second)),
	}})
	if err != nil {
		t.Fatalf("creating the SQS queue %s on the run's moto: %v", name, err)
	}
	r.ev = &events{moto: moto, topicARN: aws.ToString(top.TopicArn), queueURL: aws.ToString(q.QueueUrl), raw: r.m.rawEvents}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading the ARN of the events queue: %v", err)
	}
	sub := &sns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}
	if r.ev.raw {
		sub.Attributes = map[string]string{"RawMessageDelivery": "true"}
	}
	if _, err := sn.Subscribe(ctx, sub); err != nil {
		t.Fatalf("subscribing the events queue to the topic: %v", err)
	}

	logf, err := os.Create(filepath.Join(r.logs, "publisher.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	pub, err := sesevents.NewWithAPI(sn, sesevents.Config{
		TopicARN: r.ev.topicARN, MinDelay: eventMinDelay, MaxDelay: eventMaxDelay,
		DuplicateRatio: eventDuplicates, Seed: r.m.seed,
		// Send only: it is the event that settles a send, and moto's
		// receive slows down with the queue's length (see eventsRateCap).
		NoDelivery: true,
		Log:        slog.New(slog.NewJSONHandler(logf, nil)),
	})
	if err != nil {
		t.Fatalf("starting the SES event publisher: %v", err)
	}
	r.ev.pub = pub
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg(), 30*time.Second)
		defer cancel()
		_ = pub.Close(ctx)
	})
	delivery := "SNS envelope"
	if r.ev.raw {
		delivery = "raw message delivery"
	}
	r.logf("SES events: moto %s, topic %s → queue %s (%s, visibility %s), a Send event %s–%s after acceptance, %.0f%% twice",
		moto.url(), name, name, delivery, queueVisibility, eventMinDelay, eventMaxDelay, 100*eventDuplicates)
}

// startReconcile starts `sender reconcile` and waits until it is ready. It
// may run outside the test's goroutine.
func (r *run) startReconcile() error {
	port, err := pickPort()
	if err != nil {
		return err
	}
	p, err := r.ps.start(r.logs, "reconcile", r.env("METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port), "AWS_ENDPOINT_URL_SQS="+r.ev.moto.url()), nil,
		r.bins.sender, "reconcile",
		"--events-queue-url", r.ev.queueURL,
		"--resolve-after", resolveAfter.String(),
		"--user-hash-key-file", r.keyFile,
		"--visibility-timeout", queueVisibility.String(),
		"--drain-timeout", drainTimeout.String(),
		"--summary-interval", "10s",
		"--pollers", strconv.Itoa(reconcilePollers),
	)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.reconcile = p
	r.mu.Unlock()
	return r.waitReady(p, port)
}

func (r *run) restartReconcile() {
	if r.restart("reconcile", r.reconcile, r.startReconcile) != nil {
		r.t.FailNow()
	}
}
