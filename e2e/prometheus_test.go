package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/usergen"
)

// The monitoring files as shipped.
const monitoringDir = "../deploy/monitoring"

// A real Prometheus (Debian's package) scrapes a producer and two workers with
// the shipped scrape configuration and the operators' bearer token. After a
// known import it has the import's counts, the queues' sizes and the
// chunk-duration histogram; the shipped alert rules load and evaluate; and
// every expression of the Grafana dashboard returns data.
func TestPrometheusScrapesTheService(t *testing.T) {
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("%v: install Debian's prometheus package (deploy/local/tools.sh prometheus; make test does)", err)
	}
	bin := build(t)
	port := freePort(t)
	producer := "127.0.0.1:" + itoa(port)
	environ := append(env(t), "PRODUCER_ADDR="+producer, "CHUNK_SIZE=250", "METRICS_TOKEN="+metricsToken)
	namespace := lookup(environ, "QUEUE_NAMESPACE")
	ctl(t, bin, environ, 0, "migrate")
	tenant := pgtest.Tenant(t)
	ctl(t, bin, environ, 0, "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")
	start(t, bin, "producer", environ)
	ready := []string{"http://" + producer + "/readyz"}
	var workers []string
	for range 2 {
		addr := "127.0.0.1:" + itoa(freePort(t))
		// A tenant limit of one chunk in flight: the second worker's chunks
		// are throttled, so that the throttling panel has data too.
		start(t, bin, "worker", environ, "WORKER_HEALTH_ADDR="+addr, "TENANT_CHUNK_LIMIT=1")
		workers = append(workers, addr)
		ready = append(ready, "http://"+addr+"/readyz")
	}
	for _, u := range ready {
		waitHTTP(t, u)
	}

	prom := startPrometheus(t, prometheus, map[string][]string{
		"userimport-producer": {producer},
		"userimport-worker":   workers,
	})
	// Every target scraped before the import: the series present at 0 are the
	// baseline that rate() and increase() measure the import against.
	prom.eventually(t, `count(up{job=~"userimport-(producer|worker)"} == 1)`, 3)
	prom.eventually(t, `count(userimport_chunk_duration_seconds_count{result="applied"})`, 2)

	// The known import: 3,000 records, 1 % invalid, in 12 chunks of 250.
	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: 3000, Seed: 44, Invalid: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	const chunks = 12
	// plan, the chunks, finalize: retained as completed tasks for a day.
	const tasks = 1 + chunks + 1
	to := "prom-" + tenant + "@example.com"
	ctl(t, bin, environ, 1, "import", "--tenant", tenant, "--wait", "--notify", to, path)

	queues := fmt.Sprintf(`queue=~"%s-.*"`, regexp.QuoteMeta(namespace))
	valid, invalid := float64(gen.Records-gen.Invalid), float64(gen.Invalid)
	for _, c := range []struct {
		expr string
		want float64
	}{
		// The import's counters, from the workers.
		{fmt.Sprintf(`sum(userimport_records_total{tenant=%q, outcome="created"})`, tenant), valid},
		{fmt.Sprintf(`sum(userimport_records_total{tenant=%q, outcome="rejected"})`, tenant), invalid},
		{fmt.Sprintf(`sum(userimport_records_total{tenant=%q, outcome=~"updated|unchanged"}) or vector(0)`, tenant), 0},
		{`sum(userimport_import_duration_seconds_count{kind="upload"})`, 1},
		{`sum(userimport_emails_total{result="sent"})`, 1},
		{`sum(userimport_emails_total{result="failed"})`, 0},
		{fmt.Sprintf(`sum(userimport_tenant_throttled_total{tenant=%q}) > bool 0`, tenant), 1},
		// The chunk-duration histogram: every chunk applied once (a task run
		// again finds it applied: result "redelivered"), none failed,
		// each worker with all its buckets, every chunk under five minutes.
		{`sum(userimport_chunk_duration_seconds_count{result="applied"})`, chunks},
		{`sum(userimport_chunk_duration_seconds_bucket{result="applied", le="+Inf"})`, chunks},
		{`sum(userimport_chunk_duration_seconds_bucket{result="applied", le="300"})`, chunks},
		{`count(userimport_chunk_duration_seconds_bucket{result="applied"})`, 2 * 12},
		{`sum(userimport_chunk_duration_seconds_sum{result="applied"}) > bool 0`, 1},
		{`sum(userimport_chunk_duration_seconds_count{result=~"retry|failed"})`, 0},
		// The queues, from the producer: nothing left to do, every task
		// completed (and retained), so the queues' size is the completed
		// tasks' count: the plan, the chunks and finalize, and a chunk
		// handed on from a worker the loaded machine starved of its
		// heartbeat (counted as redelivered above, not as applied).
		{`sum(asynq_queue_size{` + queues + `}) >= bool ` + itoa(tasks), 1},
		{`sum(asynq_queue_size{` + queues + `}) - sum(asynq_tasks_enqueued_total{` + queues + `, state="completed"})`, 0},
		{`sum(asynq_tasks_enqueued_total{` + queues + `, state!="completed"})`, 0},
		{`max(asynq_queue_latency_seconds{` + queues + `})`, 0},
		{`sum(asynq_tasks_processed_total{` + queues + `}) >= bool ` + itoa(tasks), 1},
		// The imports, from PostgreSQL through the producer.
		{`userimport_imports{state="finished"} >= bool 1`, 1},
	} {
		prom.eventually(t, c.expr, c.want)
	}
	prom.rulesHealthy(t)

	// rate() needs two samples of each series born during the import.
	time.Sleep(2 * scrapeInterval)
	prom.dashboardHasData(t, map[string]string{"queue": namespace + "-.*", "tenant": regexp.QuoteMeta(tenant)})
}

// The test's scrape and rule evaluation interval (the shipped file has 15 s and 30 s).
const scrapeInterval = time.Second

// promServer is a Prometheus process of the test's own.
type promServer struct {
	base    string // http://127.0.0.1:port
	started time.Time
}

// startPrometheus runs prometheus on a free loopback port with a temporary
// storage directory and the shipped configuration, filled in with targets
// (by job name) and the test's token. It is stopped at the end of the test.
func startPrometheus(t *testing.T, path string, targets map[string][]string) *promServer {
	t.Helper()
	dir := t.TempDir()
	token := filepath.Join(dir, "metrics-token")
	if err := os.WriteFile(token, []byte(metricsToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, prometheusConfig(t, token, targets), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + itoa(freePort(t))
	p := &promServer{base: "http://" + addr, started: time.Now()}
	startProgram(t, path, []string{
		"--config.file=" + config,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}, os.Environ())
	waitHTTP(t, p.base+"/-/ready")
	return p
}

// prometheusConfig returns deploy/monitoring/prometheus.yml as the test runs
// it. What the file's header says may change is all that changes: each job's
// targets (its static_configs and *_sd_configs give way to the test's
// processes), authorization.credentials_file (the test's token file),
// rule_files (the repository's copies of the same files) and the intervals.
// The job names, metrics paths and authorization types stay as shipped.
func prometheusConfig(t *testing.T, tokenFile string, targets map[string][]string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
		cfg["global"] = global
	}
	interval := scrapeInterval.String()
	global["scrape_interval"], global["scrape_timeout"], global["evaluation_interval"] = interval, interval, interval

	dir, err := filepath.Abs(monitoringDir)
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := cfg["rule_files"].([]any)
	for i, f := range rules {
		rules[i] = filepath.Join(dir, filepath.Base(fmt.Sprint(f)))
	}

	left := map[string]bool{}
	for job := range targets {
		left[job] = true
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		sc, _ := j.(map[string]any)
		job, _ := sc["job_name"].(string)
		tg, ok := targets[job]
		if !ok {
			t.Fatalf("prometheus.yml: job %q: the test has no processes for it", job)
		}
		delete(left, job)
		auth, _ := sc["authorization"].(map[string]any)
		if auth == nil || auth["credentials_file"] == nil {
			t.Fatalf("prometheus.yml: job %s: want authorization with credentials_file", job)
		}
		auth["credentials_file"] = tokenFile
		for k := range sc {
			if k == "static_configs" || strings.HasSuffix(k, "_sd_configs") {
				delete(sc, k)
			}
		}
		sc["static_configs"] = []any{map[string]any{"targets": tg}}
	}
	if len(left) > 0 {
		t.Fatalf("prometheus.yml lacks the jobs %v", slices.Sorted(maps.Keys(left)))
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// promSample is one element of an instant query's result.
type promSample struct {
	Metric map[string]string
	Value  float64
}

// query evaluates expr now.
func (p *promServer) query(t *testing.T, expr string) ([]promSample, error) {
	t.Helper()
	var r struct {
		Status    string          `json:"status"`
		Error     string          `json:"error"`
		ErrorType string          `json:"errorType"`
		Data      json.RawMessage `json:"data"`
	}
	if err := p.get(t, "/api/v1/query?query="+url.QueryEscape(expr), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		return nil, err
	}
	parse := func(v [2]any) float64 {
		s, _ := v[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	}
	switch data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		return []promSample{{Value: parse(v)}}, nil
	case "vector":
		var vs []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &vs); err != nil {
			return nil, err
		}
		out := make([]promSample, 0, len(vs))
		for _, v := range vs {
			out = append(out, promSample{Metric: v.Metric, Value: parse(v.Value)})
		}
		return out, nil
	default:
		return nil, fmt.Errorf("result type %s", data.ResultType)
	}
}

func (p *promServer) get(t *testing.T, path string, into any) error {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, p.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(into)
}

// eventually waits until expr gives a single sample of value want: scrapes
// come every second, so the last of the import may take a moment to arrive.
func (p *promServer) eventually(t *testing.T, expr string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := p.query(t, expr)
		if err == nil && len(got) == 1 && got[0].Value == want {
			t.Logf("%s = %v", expr, want)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (%v), want %v", expr, got, err, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rulesHealthy checks that the shipped alert rules loaded and evaluate
// without error against the real series.
func (p *promServer) rulesHealthy(t *testing.T) {
	t.Helper()
	var r struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := p.get(t, "/api/v1/rules", &r); err != nil {
			t.Fatal(err)
		}
		var groups, bad []string
		n := 0
		for _, g := range r.Data.Groups {
			groups = append(groups, g.Name)
			for _, rule := range g.Rules {
				n++
				if rule.Health != "ok" {
					bad = append(bad, fmt.Sprintf("%s: %s %s", rule.Name, rule.Health, rule.LastError))
				}
			}
		}
		if len(groups) == 3 && len(bad) == 0 {
			t.Logf("alert rules: %d in groups %v, all evaluated without error", n, groups)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert rules: groups %v, not healthy: %v", groups, bad)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dashPanel is a panel of the Grafana dashboard, as far as the test reads it.
type dashPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // of a collapsed row
}

var grafanaVariable = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// dashboardHasData evaluates every expression of the Grafana dashboard, with
// its variables set to vars (the built-in ranges: the whole test so far), and
// fails listing those that return no sample or only NaN.
func (p *promServer) dashboardHasData(t *testing.T, vars map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []dashPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	// Grafana's $__rate_interval is at least four scrape intervals; here the
	// whole run is the range, so that rate() sees every sample of the import.
	window := fmt.Sprintf("%ds", int(time.Since(p.started).Seconds())+5)
	values := map[string]string{"__rate_interval": window, "__range": window, "__interval": window}
	for k, v := range vars {
		values[k] = v
	}
	var empty []string
	n := 0
	var walk func(ps []dashPanel)
	walk = func(ps []dashPanel) {
		for _, panel := range ps {
			walk(panel.Panels)
			for _, target := range panel.Targets {
				n++
				where := fmt.Sprintf("%q %s", panel.Title, target.RefID)
				expr := grafanaVariable.ReplaceAllStringFunc(target.Expr, func(m string) string {
					name := grafanaVariable.FindStringSubmatch(m)[1]
					v, ok := values[name]
					if !ok {
						t.Errorf("%s: no value for the variable $%s", where, name)
					}
					return v
				})
				got, err := p.query(t, expr)
				if err != nil {
					empty = append(empty, fmt.Sprintf("%s: %s: %v", where, expr, err))
					continue
				}
				if !slices.ContainsFunc(got, func(s promSample) bool { return !math.IsNaN(s.Value) }) {
					empty = append(empty, fmt.Sprintf("%s: %s: %v", where, expr, got))
					continue
				}
				t.Logf("%s: %s", where, formatSamples(got))
			}
		}
	}
	walk(d.Panels)
	if len(empty) > 0 {
		t.Errorf("%d of the dashboard's %d expressions return no data:\n%s", len(empty), n, strings.Join(empty, "\n"))
	}
}

// formatSamples prints a result as {labels} value pairs, in a stable order.
func formatSamples(ss []promSample) string {
	parts := make([]string, 0, len(ss))
	for _, s := range ss {
		keys := make([]string, 0, len(s.Metric))
		for k := range s.Metric {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var labels []string
		for _, k := range keys {
			labels = append(labels, k+"="+strconv.Quote(s.Metric[k]))
		}
		parts = append(parts, fmt.Sprintf("{%s} %.4g", strings.Join(labels, ","), s.Value))
	}
	slices.Sort(parts)
	return strings.Join(parts, "  ")
}
