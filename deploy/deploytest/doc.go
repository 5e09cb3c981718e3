// Package deploytest checks, offline, what can be checked of the deployment
// without a Docker engine or a Kubernetes cluster: docker-compose.yml, the
// kustomize manifests under deploy/ (decoded strictly into the Kubernetes API
// types), the Grafana dashboard, the Prometheus configuration and alerting
// rules (with promtool), the IAM policies and the Dockerfiles. Every
// environment variable the deployment gives a service is checked against the
// flags the service's binary really has (its --help).
//
// The package holds tests only.
package deploytest
