package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	// Service discovery mechanisms register their config sections; these are
	// the ones prometheus.yml may use (discovery/install would bring every
	// cloud SDK).
	_ "github.com/prometheus/prometheus/discovery/dns"
	_ "github.com/prometheus/prometheus/discovery/file"
)

type metricKind int

const (
	counter metricKind = iota
	gauge
	histogram
)

type metricDef struct {
	kind metricKind
	// labels and, where the set is closed, their values (nil: any value).
	labels map[string][]string
}

// The metrics the service exports (asynq's x/metrics exporter on the
// producer, the importer on the workers, the producer's PostgreSQL gauges).
// Dashboards and alerts may use these and nothing else.
var metricCatalog = map[string]metricDef{
	// asynq_tasks_enqueued_total is a gauge despite its name.
	"asynq_tasks_enqueued_total": {gauge, map[string][]string{
		"queue": nil, "state": {"active", "pending", "scheduled", "retry", "archived", "completed", "aggregating"}}},
	"asynq_queue_size":                      {gauge, map[string][]string{"queue": nil}},
	"asynq_queue_latency_seconds":           {gauge, map[string][]string{"queue": nil}},
	"asynq_queue_memory_usage_approx_bytes": {gauge, map[string][]string{"queue": nil}},
	"asynq_tasks_processed_total":           {counter, map[string][]string{"queue": nil}},
	"asynq_tasks_failed_total":              {counter, map[string][]string{"queue": nil}},
	"asynq_queue_paused_total":              {gauge, map[string][]string{"queue": nil}},

	"userimport_records_total": {counter, map[string][]string{
		"tenant": nil, "outcome": {"created", "updated", "unchanged", "rejected"}}},
	"userimport_rejects_total":           {counter, map[string][]string{"column": nil}},
	"userimport_chunk_duration_seconds":  {histogram, map[string][]string{"result": {"applied", "retry", "failed"}}},
	"userimport_import_duration_seconds": {histogram, map[string][]string{"kind": {"upload", "event", "retry", "feed", "local"}}},
	"userimport_emails_total":            {counter, map[string][]string{"result": {"sent", "failed"}}},
	"userimport_tenant_throttled_total":  {counter, map[string][]string{"tenant": nil}},

	"userimport_imports": {gauge, map[string][]string{
		"state": {"pending", "planning", "running", "finalizing", "finished", "rejected", "failed"}}},
	"userimport_import_oldest_unfinished_seconds": {gauge, map[string][]string{}},

	"up": {gauge, map[string][]string{}},
}

// Labels every scraped series has (Prometheus' and the operator's targets).
var targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true, "container": true, "service": true, "endpoint": true}

// lookupMetric resolves a series name, histogram suffixes included.
func lookupMetric(name string) (metricDef, bool) {
	if d, ok := metricCatalog[name]; ok {
		if d.kind == histogram {
			return d, false // only _bucket, _sum and _count exist
		}
		return d, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, found := strings.CutSuffix(name, suffix); found {
			if d, ok := metricCatalog[base]; ok && d.kind == histogram {
				if suffix == "_bucket" {
					l := map[string][]string{"le": nil}
					for k, v := range d.labels {
						l[k] = v
					}
					d.labels = l
				}
				d.kind = counter
				return d, true
			}
		}
	}
	return metricDef{}, false
}

func (d metricDef) hasLabel(l string) bool {
	_, ok := d.labels[l]
	return ok || targetLabels[l]
}

var promql = parser.NewParser(parser.Options{})

// exprRules are what checkExpr enforces besides the catalogue.
type exprRules struct {
	noQueueNames bool // alerts: queue names vary with QUEUE_NAMESPACE
}

// checkExpr parses a PromQL expression and checks metric names, label names
// and closed label values against the catalogue. It returns the selectors.
func checkExpr(expr string, rules exprRules) ([]*parser.VectorSelector, []string) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, []string{fmt.Sprintf("PromQL: %v", err)}
	}
	var problems []string
	var sels []*parser.VectorSelector
	metricsUnder := func(n parser.Node) []metricDef {
		var defs []metricDef
		parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				if d, ok := lookupMetric(vs.Name); ok {
					defs = append(defs, d)
				}
			}
			return nil
		})
		return defs
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			sels = append(sels, n)
			if n.Name == "" {
				problems = append(problems, fmt.Sprintf("selector %s has no metric name", n))
				return nil
			}
			def, ok := lookupMetric(n.Name)
			if !ok {
				problems = append(problems, fmt.Sprintf("unknown metric %q (deploy/check/monitoring.go lists what the service exports)", n.Name))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					continue
				}
				if !def.hasLabel(m.Name) {
					problems = append(problems, fmt.Sprintf("%s has no label %q", n.Name, m.Name))
					continue
				}
				if rules.noQueueNames && m.Name == "queue" {
					problems = append(problems, fmt.Sprintf("%s: do not match queue names (%s): they carry QUEUE_NAMESPACE; aggregate by (queue)", n.Name, m))
				}
				values := def.labels[m.Name]
				literal := (m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual) && !strings.Contains(m.Value, "$")
				if values != nil && literal && !slices.Contains(values, m.Value) {
					problems = append(problems, fmt.Sprintf("%s{%s}: %q is not a value of %s (%s)", n.Name, m, m.Value, m.Name, strings.Join(values, "|")))
				}
			}
		case *parser.Call:
			switch n.Func.Name {
			case "rate", "irate", "increase":
				for _, d := range metricsUnder(n) {
					if d.kind == gauge {
						problems = append(problems, fmt.Sprintf("%s() of a gauge: %s", n.Func.Name, n.Args))
					}
				}
			case "histogram_quantile":
				parser.Inspect(n.Args[1], func(c parser.Node, _ []parser.Node) error {
					if vs, ok := c.(*parser.VectorSelector); ok && !strings.HasSuffix(vs.Name, "_bucket") {
						problems = append(problems, fmt.Sprintf("histogram_quantile over %s, not a _bucket series", vs.Name))
					}
					return nil
				})
			}
		case *parser.AggregateExpr:
			if n.Without {
				return nil
			}
			for _, d := range metricsUnder(n.Expr) {
				for _, l := range n.Grouping {
					if !d.hasLabel(l) {
						problems = append(problems, fmt.Sprintf("%s by (%s): a metric inside has no label %q", n.Op, strings.Join(n.Grouping, ", "), l))
					}
				}
			}
		}
		return nil
	})
	return sels, slices.Compact(problems)
}

func checkMonitoring(r *reporter, dir string) {
	upSelectors, ok := checkAlerts(r, filepath.Join(dir, "alerts.yaml"))
	checkPrometheusConfig(r, filepath.Join(dir, "prometheus.yml"), upSelectors, ok)
	checkDashboard(r, filepath.Join(dir, "grafana-dashboard.json"))
}

// The alerts the operations issue asks for, by what their expression reads.
var requiredAlerts = []struct{ metric, label, value string }{
	{"asynq_queue_latency_seconds", "", ""},
	{"asynq_tasks_enqueued_total", "state", "archived"},
	{"userimport_import_oldest_unfinished_seconds", "", ""},
	{"userimport_emails_total", "result", "failed"},
	{"up", "", ""},
}

func selectorMatches(vs *parser.VectorSelector, metric, label, value string) bool {
	if vs.Name != metric {
		return false
	}
	if label == "" {
		return true
	}
	return slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
		return m.Name == label && m.Type == labels.MatchEqual && m.Value == value
	})
}

// checkAlerts returns the alerts' up{...} selectors, and whether the file parsed.
func checkAlerts(r *reporter, file string) ([]*parser.VectorSelector, bool) {
	before := len(r.problems)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	groups, errs := rulefmt.ParseFile(file, false, model.LegacyValidation, promql, logger)
	for _, err := range errs {
		r.errorf(file, "%s", strings.TrimPrefix(err.Error(), file+": "))
	}
	if groups == nil {
		return nil, false
	}
	var all, ups []*parser.VectorSelector
	n := 0
	for _, g := range groups.Groups {
		for _, rule := range g.Rules {
			n++
			name := rule.Alert
			if name == "" {
				name = "record " + rule.Record
			}
			where := fmt.Sprintf("group %s, %s", g.Name, name)
			if rule.Alert != "" {
				switch rule.Labels["severity"] {
				case "critical", "warning", "info":
				default:
					r.errorf(file, "%s: labels.severity %q, want critical, warning or info", where, rule.Labels["severity"])
				}
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(rule.Annotations[a]) == "" {
						r.errorf(file, "%s: annotations.%s is required", where, a)
					}
				}
			}
			sels, problems := checkExpr(rule.Expr, exprRules{noQueueNames: true})
			for _, p := range problems {
				if len(errs) > 0 && strings.HasPrefix(p, "PromQL: ") {
					continue // rulefmt said it already
				}
				r.errorf(file, "%s: %s", where, p)
			}
			all = append(all, sels...)
			for _, vs := range sels {
				if vs.Name == "up" {
					ups = append(ups, vs)
				}
			}
		}
	}
	for _, req := range requiredAlerts {
		if !slices.ContainsFunc(all, func(vs *parser.VectorSelector) bool { return selectorMatches(vs, req.metric, req.label, req.value) }) {
			what := req.metric
			if req.label != "" {
				what += fmt.Sprintf(`{%s="%s"}`, req.label, req.value)
			}
			r.errorf(file, "no alert reads %s", what)
		}
	}
	r.pass(file, fmt.Sprintf("%d rules: rule format, PromQL, templates, metric and label names", n), before)
	return ups, true
}

// The scrape jobs the alerts and the dashboard expect.
var scrapeJobs = []string{"userimport-producer", "userimport-worker"}

// checkPrometheusConfig loads prometheus.yml as Prometheus does; with the
// alerts parsed (alertsOK), it also checks their up{job} selectors.
func checkPrometheusConfig(r *reporter, file string, upSelectors []*parser.VectorSelector, alertsOK bool) {
	before := len(r.problems)
	cfg, err := promconfig.LoadFile(file, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		r.errorf(file, "%v", err)
		return
	}
	if !slices.ContainsFunc(cfg.RuleFiles, func(f string) bool { return filepath.Base(f) == "alerts.yaml" }) {
		r.errorf(file, "rule_files does not load alerts.yaml")
	}
	jobs := map[string]*promconfig.ScrapeConfig{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = sc
	}
	for _, name := range scrapeJobs {
		sc, ok := jobs[name]
		if !ok {
			r.errorf(file, "no scrape job %q (the alerts match it)", name)
			continue
		}
		if sc.MetricsPath != "/metrics" {
			r.errorf(file, "job %s: metrics_path %q, want /metrics", name, sc.MetricsPath)
		}
		a := sc.HTTPClientConfig.Authorization
		if a == nil || a.Type != "Bearer" || (a.Credentials == "" && a.CredentialsFile == "") {
			r.errorf(file, "job %s: /metrics needs authorization with the METRICS_TOKEN bearer token", name)
		}
	}
	// Each `up` alert must see the jobs, and each job must have one.
	if !alertsOK {
		return
	}
	for _, name := range scrapeJobs {
		seen := false
		for _, vs := range upSelectors {
			for _, m := range vs.LabelMatchers {
				if m.Name == "job" && m.Matches(name) {
					seen = true
				}
			}
		}
		if !seen {
			r.errorf(file, "job %s: no up{job=...} alert in alerts.yaml matches it", name)
		}
	}
	for _, vs := range upSelectors {
		for _, m := range vs.LabelMatchers {
			if m.Name == "job" && !slices.ContainsFunc(scrapeJobs, m.Matches) {
				r.errorf(file, "alerts.yaml: %s matches none of the jobs %v", vs, scrapeJobs)
			}
		}
	}
	r.pass(file, fmt.Sprintf("Prometheus configuration, %d scrape jobs with bearer auth, alerts' up{job} selectors", len(cfg.ScrapeConfigs)), before)
}

// The dashboard JSON, as far as the check reads it.
type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// The metrics the dashboard must show (the operations issue's panels).
var requiredPanels = []string{
	"asynq_queue_size", "asynq_queue_latency_seconds", "asynq_tasks_processed_total", "asynq_tasks_failed_total",
	"asynq_tasks_enqueued_total", "userimport_records_total", "userimport_rejects_total",
	"userimport_chunk_duration_seconds_bucket", "userimport_import_duration_seconds_bucket", "userimport_imports",
	"userimport_emails_total", "userimport_tenant_throttled_total", "userimport_import_oldest_unfinished_seconds",
}

// Grafana's built-in variables, replaced by a sample value before parsing.
var grafanaMacros = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval}", "1m", "$__interval", "1m",
	"${__range}", "6h", "$__range", "6h",
)

var grafanaVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

const dsInput = "${DS_PROMETHEUS}"

func checkDashboard(r *reporter, file string) {
	before := len(r.problems)
	data, err := os.ReadFile(file) //nolint:gosec // G703: a file of the deploy dir named on the command line
	if err != nil {
		r.errorf(file, "%v", err)
		return
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		r.errorf(file, "not JSON: %v", err)
		return
	}
	if d.UID == "" || d.Title == "" {
		r.errorf(file, "uid and title are required")
	}
	if !slices.ContainsFunc(d.Inputs, func(in struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	}) bool {
		return in.Name == "DS_PROMETHEUS" && in.Type == "datasource" && in.PluginID == "prometheus"
	}) {
		r.errorf(file, "__inputs must declare DS_PROMETHEUS, a prometheus datasource")
	}
	vars := map[string]bool{"__all": true}
	for _, v := range d.Templating.List {
		if vars[v.Name] {
			r.errorf(file, "template variable %q twice", v.Name)
		}
		vars[v.Name] = true
		if v.Type == "query" {
			if v.Datasource == nil || v.Datasource.UID != dsInput {
				r.errorf(file, "variable %s: datasource must be %s", v.Name, dsInput)
			}
			if err := checkLabelValuesQuery(v.Definition); err != nil {
				r.errorf(file, "variable %s: %v", v.Name, err)
			}
		}
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	var grid [][4]int
	var walk func(ps []panel)
	npanels := 0
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] {
				r.errorf(file, "%s: id used twice", where)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
				r.errorf(file, "%s: gridPos %+v is outside the 24-column grid", where, g)
			}
			for _, o := range grid {
				if g.X < o[0]+o[2] && o[0] < g.X+g.W && g.Y < o[1]+o[3] && o[1] < g.Y+g.H {
					r.errorf(file, "%s: gridPos %+v overlaps another panel", where, g)
				}
			}
			grid = append(grid, [4]int{g.X, g.Y, g.W, g.H})
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			npanels++
			if p.Title == "" {
				r.errorf(file, "%s: title is required", where)
			}
			if p.Datasource == nil || p.Datasource.UID != dsInput {
				r.errorf(file, "%s: datasource must be %s", where, dsInput)
			}
			if len(p.Targets) == 0 {
				r.errorf(file, "%s: no targets", where)
			}
			refs := map[string]bool{}
			for _, t := range p.Targets {
				if refs[t.RefID] || t.RefID == "" {
					r.errorf(file, "%s: refId %q missing or used twice", where, t.RefID)
				}
				refs[t.RefID] = true
				if t.Datasource != nil && t.Datasource.UID != dsInput {
					r.errorf(file, "%s %s: datasource must be %s", where, t.RefID, dsInput)
				}
				for _, m := range grafanaVar.FindAllStringSubmatch(grafanaMacros.Replace(t.Expr), -1) {
					if !vars[m[1]] {
						r.errorf(file, "%s %s: variable $%s is not defined in templating", where, t.RefID, m[1])
					}
				}
				sels, problems := checkExpr(grafanaMacros.Replace(t.Expr), exprRules{})
				for _, pr := range problems {
					r.errorf(file, "%s %s: %s", where, t.RefID, pr)
				}
				for _, vs := range sels {
					used[vs.Name] = true
				}
			}
		}
	}
	walk(d.Panels)
	for _, m := range requiredPanels {
		if !used[m] {
			r.errorf(file, "no panel shows %s", m)
		}
	}
	r.pass(file, fmt.Sprintf("%d panels: JSON, datasource input, PromQL, metric and label names, layout", npanels), before)
}

var labelValuesRe = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// checkLabelValuesQuery checks a variable's label_values(metric, label).
func checkLabelValuesQuery(q string) error {
	m := labelValuesRe.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return fmt.Errorf("query %q: the check reads label_values(metric, label) only", q)
	}
	def, ok := lookupMetric(m[1])
	if !ok {
		return fmt.Errorf("unknown metric %q", m[1])
	}
	if !def.hasLabel(m[2]) {
		return fmt.Errorf("%s has no label %q", m[1], m[2])
	}
	return nil
}
