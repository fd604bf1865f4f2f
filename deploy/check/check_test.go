package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeploy: the artifacts in deploy/ pass.
func TestDeploy(t *testing.T) {
	t.Parallel()
	r := Check("..")
	for _, p := range r.Problems {
		t.Error(p)
	}
	if len(r.OK) == 0 {
		t.Error("nothing was checked")
	}
}

// TestBroken: a copy of deploy/ with one mistake fails, and says why.
func TestBroken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		file      string
		old, new  string // the mistake: the first old becomes new
		wantInErr string // a problem contains this
	}{
		// Strict decoding into the Kubernetes API types.
		{"k8s typo'd field", "k8s/worker.yaml", "readinessProbe:", "readinesProbe:",
			`worker.yaml: line 75: Deployment/userimport-worker: error unmarshaling JSON: while decoding JSON: json: unknown field "readinesProbe"`},
		{"k8s wrong type", "k8s/producer.yaml", "containerPort: 8080", `containerPort: "8080"`,
			"cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"},
		{"k8s unknown kind", "k8s/namespace.yaml", "kind: Namespace", "kind: Namespaces", "unknown apiVersion/kind v1 Namespaces"},
		{"KEDA typo'd field", "k8s/keda.yaml", "pollingInterval:", "pollingIntervall:", `unknown field "pollingIntervall"`},
		{"KEDA metadata typo", "k8s/keda.yaml", `listLength: "8"`, `listLenght: "8"`, "metadata.listLenght is not a key of KEDA's redis scaler"},
		{"optional file typo", "k8s/servicemonitor.yaml", "podMetricsEndpoints:", "podMetricEndpoints:", `unknown field "podMetricEndpoints"`},
		{"kustomization typo", "k8s/kustomization.yaml", "resources:", "resource:", `unknown field "resource"`},
		{"kustomization missing file", "k8s/kustomization.yaml", "- keda.yaml", "- kedaa.yaml", "resource kedaa.yaml"},
		// References between the manifests and the settings.
		{"grace period", "k8s/worker.yaml", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 20",
			"terminationGracePeriodSeconds 20 must be above WORKER_SHUTDOWN_TIMEOUT (25s)"},
		{"shutdown timeout raised", "k8s/configmap.yaml", "WORKER_SHUTDOWN_TIMEOUT: 25s", "WORKER_SHUTDOWN_TIMEOUT: 45s",
			"terminationGracePeriodSeconds 40 must be above WORKER_SHUTDOWN_TIMEOUT (45s)"},
		{"secret key", "k8s/producer.yaml", "key: METRICS_TOKEN", "key: METRIC_TOKEN", `Secret userimport-secrets has no key "METRIC_TOKEN"`},
		{"service selector", "k8s/producer.yaml", "  selector:\n    app.kubernetes.io/name: userimport\n    app.kubernetes.io/component: producer",
			"  selector:\n    app.kubernetes.io/name: userimport\n    app.kubernetes.io/component: producr", "matches no Deployment's pods"},
		{"probe port", "k8s/worker.yaml", "httpGet: {path: /readyz, port: http}", "httpGet: {path: /readyz, port: health}",
			"readinessProbe: port health is not a port of the container"},
		{"listen port vs probes", "k8s/configmap.yaml", "WORKER_HEALTH_ADDR: 0.0.0.0:9090", "WORKER_HEALTH_ADDR: 0.0.0.0:9091",
			"WORKER_HEALTH_ADDR listens on port 9091, but the probes use another port"},
		{"unknown setting", "k8s/configmap.yaml", "LOG_LEVEL: info", "LOGLEVEL: info", "LOGLEVEL is not a setting of the service"},
		{"bad setting", "k8s/configmap.yaml", "WORKER_CONCURRENCY: \"4\"", "WORKER_CONCURRENCY: \"0\"", `WORKER_CONCURRENCY: "0": want a whole number above 0`},
		{"secret in ConfigMap", "k8s/configmap.yaml", "LOG_LEVEL: info", "LOG_LEVEL: info\n  METRICS_TOKEN: x", "METRICS_TOKEN is a secret"},
		{"static AWS keys", "k8s/secret.example.yaml", "stringData:", "stringData:\n  AWS_SECRET_ACCESS_KEY: CHANGE-ME", "use the ServiceAccount's IAM role"},
		{"real-looking secret", "k8s/secret.example.yaml", "METRICS_TOKEN: CHANGE-ME-metrics-token-of-32-characters", "METRICS_TOKEN: s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", "holds placeholders only"},
		{"not root", "k8s/producer.yaml", "runAsUser: 65532", "runAsUser: 0", "securityContext.runAsUser must be set and not 0"},
		{"capabilities", "k8s/worker.yaml", "drop: [ALL]", "drop: [NET_RAW]", "capabilities.drop must contain ALL"},
		{"KEDA list name", "k8s/keda.yaml", `listName: "asynq:{bulk}:pending"`, `listName: "asynq:{bulk}:pendin"`,
			`no trigger watches "asynq:{bulk}:pending"`},
		{"KEDA vs QUEUE_NAMESPACE", "k8s/configmap.yaml", `QUEUE_NAMESPACE: ""`, `QUEUE_NAMESPACE: "prod"`,
			`no trigger watches "asynq:{prod-critical}:pending"`},
		{"KEDA address", "k8s/keda.yaml", "address: redis.example.internal:6379", "address: redis:6379",
			`metadata.address "redis:6379", but REDIS_URL points at "redis.example.internal:6379"`},
		{"KEDA vs Sentinel", "k8s/secret.example.yaml", "REDIS_URL: rediss://:CHANGE-ME@redis.example.internal:6379/0",
			"REDIS_URL: redis-sentinel://:CHANGE-ME@s1:26379,s2:26379/0?master=main&tls=true", "type redis, but REDIS_URL is redis-sentinel:// (use the redis-sentinel scaler)"},
		{"new setting", "k8s/configmap.yaml", "LOG_LEVEL: info", "LOG_LEVEL: info\n  S3_READ_TIMEOUT: soon", `S3_READ_TIMEOUT: "soon": want a duration`},
		{"KEDA and HPA together", "k8s/kustomization.yaml", "- keda.yaml", "- keda.yaml\n  - hpa.yaml", "they would fight over the replicas"},
		// Compose.
		{"compose schema", "compose.yaml", "stop_grace_period: 40s", "stop_grace_periode: 40s", "services.worker.stop_grace_periode false schema (not a key of the compose specification: misspelt?)"},
		{"compose grace period", "compose.yaml", "stop_grace_period: 40s", "stop_grace_period: 20s", "service worker: stop_grace_period must be above WORKER_SHUTDOWN_TIMEOUT"},
		{"compose scalable", "compose.yaml", "  worker:\n    <<: *userimport", "  worker:\n    <<: *userimport\n    container_name: worker",
			"container_name \"worker\" prevents --scale worker=N"},
		{"compose distroless healthcheck", "compose.yaml", "    ports:\n      - \"8080:8080\"",
			"    ports:\n      - \"8080:8080\"\n    healthcheck:\n      test: [\"CMD\", \"curl\", \"-f\", \"http://127.0.0.1:8080/healthz\"]", "the image is distroless"},
		{"compose env typo", "compose.yaml", "MAIL_FROM: userimport@localhost", "MAIL_FORM: userimport@localhost", "MAIL_FORM is not a setting of the service"},
		{"compose healthy without healthcheck", "compose.yaml", "      test: [\"CMD\", \"redis-cli\", \"ping\"]", "      disable: true",
			"waits for redis to be healthy, but redis has no healthcheck"},
		// Prometheus and Grafana.
		{"rule typo'd field", "monitoring/alerts.yaml", "        for: 10m", "        fore: 10m", "field fore not found in type rulefmt.Rule"},
		{"PromQL syntax", "monitoring/alerts.yaml", "expr: max by (queue) (asynq_queue_latency_seconds) > 300", "expr: max by (queue) (asynq_queue_latency_seconds > 300",
			"unclosed left parenthesis"},
		{"unknown metric in alert", "monitoring/alerts.yaml", "(asynq_queue_latency_seconds)", "(asynq_queue_latency_second)",
			`unknown metric "asynq_queue_latency_second"`},
		{"hard-coded queue", "monitoring/alerts.yaml", "(asynq_queue_latency_seconds)", `(asynq_queue_latency_seconds{queue="critical"})`,
			"do not match queue names"},
		{"rate of a gauge", "monitoring/alerts.yaml", "expr: max(userimport_import_oldest_unfinished_seconds) > 3600",
			"expr: max(rate(userimport_import_oldest_unfinished_seconds[5m])) > 3600", "rate() of a gauge"},
		{"label value", "monitoring/alerts.yaml", `userimport_emails_total{result="failed"}`, `userimport_emails_total{result="fail"}`,
			`"fail" is not a value of result (sent|failed)`},
		{"template", "monitoring/alerts.yaml", "{{ $labels.queue }}: the oldest", "{{ $labels.queue }: the oldest", "template"},
		{"scrape job", "monitoring/prometheus.yml", "job_name: userimport-worker", "job_name: userimport-workers", `no scrape job "userimport-worker"`},
		{"scrape auth", "monitoring/prometheus.yml", "      type: Bearer\n      credentials_file: /etc/prometheus/metrics-token\n    static_configs:",
			"      type: Bearer\n    static_configs:", "job userimport-producer: /metrics needs authorization"},
		{"dashboard metric", "monitoring/grafana-dashboard.json", "rate(userimport_rejects_total[", "rate(userimport_reject_total[",
			`unknown metric "userimport_reject_total"`},
		{"dashboard label", "monitoring/grafana-dashboard.json", `sum by (column)`, `sum by (colum)`, `a metric inside has no label "colum"`},
		{"dashboard PromQL", "monitoring/grafana-dashboard.json", `max by (state) (userimport_imports)`, `max by (state) (userimport_imports`, "PromQL"},
		{"dashboard datasource", "monitoring/grafana-dashboard.json", `"uid": "${DS_PROMETHEUS}"`, `"uid": "prometheus"`, "datasource must be ${DS_PROMETHEUS}"},
		{"dashboard JSON", "monitoring/grafana-dashboard.json", `"panels": [`, `"panels": [,`, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copyDeploy(t)
			path := filepath.Join(dir, tt.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(tt.old)) {
				t.Fatalf("%s does not contain %q: update the test", tt.file, tt.old)
			}
			if err := os.WriteFile(path, bytes.Replace(data, []byte(tt.old), []byte(tt.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			r := Check(dir)
			for _, p := range r.Problems {
				if strings.Contains(p, tt.wantInErr) {
					return
				}
			}
			t.Errorf("no problem contains %q; got:\n%s", tt.wantInErr, strings.Join(r.Problems, "\n"))
		})
	}
}

// copyDeploy copies deploy/ (less the check and the local stack) into
// <tmp>/deploy, with the repository root's go.mod and Dockerfile next to it
// for compose's build context.
func copyDeploy(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range []string{"go.mod", "Dockerfile"} {
		data, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(root, "deploy")
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("..", path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == "check" || rel == "local" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
