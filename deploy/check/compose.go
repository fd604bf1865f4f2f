package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// checkCompose loads compose.yaml as `docker compose` does (compose-go: YAML,
// interpolation, the compose-spec JSON schema, references between services),
// with every profile on and an empty environment, so the defaults are what is
// checked. Then our own rules.
func checkCompose(r *reporter, file string) {
	before := len(r.problems)
	dir := filepath.Dir(file)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("userimport", true)
		o.Profiles = []string{"*"}
	})
	if err != nil {
		msg := err.Error()
		if strings.HasSuffix(msg, "false schema") {
			msg += " (not a key of the compose specification: misspelt?)"
		}
		r.errorf(file, "%s", msg)
		return
	}
	svc := func(name string) (types.ServiceConfig, bool) {
		s, ok := p.Services[name]
		return s, ok
	}
	for _, name := range []string{"postgres", "redis", "mailpit", "producer", "worker"} {
		if _, ok := svc(name); !ok {
			r.errorf(file, "service %q is missing", name)
		}
	}
	var haveS3 bool
	for name, s := range p.Services {
		image := s.Image
		if strings.HasPrefix(image, "versity/versitygw") || strings.HasPrefix(image, "minio/minio") {
			haveS3 = true
		}
		if s.Build == nil {
			ref := image[strings.LastIndex(image, "/")+1:]
			if _, tag, ok := strings.Cut(ref, ":"); !ok || tag == "latest" {
				r.errorf(file, "service %s: image %q: pin a tag", name, image)
			}
		}
		for dep, d := range s.DependsOn {
			ds, ok := p.Services[dep]
			if !ok {
				continue // the loader reports it
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if ds.HealthCheck == nil || ds.HealthCheck.Disable || len(ds.HealthCheck.Test) == 0 {
					r.errorf(file, "service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if ds.Restart != "" && ds.Restart != "no" {
					r.errorf(file, "service %s waits for %s to complete, but %s restarts (%s)", name, dep, dep, ds.Restart)
				}
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					r.errorf(file, "service %s: bind mount source: %v", name, err)
				}
			}
		}
		for _, c := range s.Configs {
			if _, ok := p.Configs[c.Source]; !ok {
				r.errorf(file, "service %s: config %q is not defined", name, c.Source)
			}
		}
	}
	if !haveS3 {
		r.errorf(file, "no S3 service (versity/versitygw or minio/minio)")
	}
	if s, ok := svc("redis"); ok {
		cmd := strings.Join(s.Command, " ")
		if !strings.Contains(cmd, "--appendonly yes") {
			r.errorf(file, "service redis: run it with --appendonly yes (command %q): the queue must survive a restart", cmd)
		}
	}
	for _, comp := range []string{"producer", "worker"} {
		s, ok := svc(comp)
		if !ok {
			continue
		}
		checkComposeService(r, file, p, comp, s)
	}
	r.pass(file, "compose-spec schema and interpolation, services, dependencies, environment, grace periods", before)
}

func checkComposeService(r *reporter, file string, p *types.Project, comp string, s types.ServiceConfig) {
	if s.Build == nil {
		r.errorf(file, "service %s: build it from the repository's Dockerfile (build.context ..)", comp)
	} else {
		df := s.Build.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if !filepath.IsAbs(df) {
			df = filepath.Join(s.Build.Context, df)
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, "go.mod")); err != nil {
			r.errorf(file, "service %s: build.context %s is not the repository root (no go.mod)", comp, s.Build.Context)
		}
		if _, err := os.Stat(df); err != nil {
			r.errorf(file, "service %s: dockerfile: %v", comp, err)
		}
	}
	want := []string{"/usr/local/bin/" + comp}
	if !slices.Equal([]string(s.Entrypoint), want) {
		r.errorf(file, "service %s: entrypoint %q, want %q", comp, []string(s.Entrypoint), want)
	}
	if hc := s.HealthCheck; hc != nil && !hc.Disable && len(hc.Test) > 0 {
		if hc.Test[0] != "CMD" || len(hc.Test) < 2 || !strings.HasPrefix(hc.Test[1], "/usr/local/bin/") {
			r.errorf(file, "service %s: healthcheck %q: the image is distroless (no shell, no curl): only its own binaries can run", comp, []string(hc.Test))
		}
	}
	env := map[string]string{}
	for k, v := range s.Environment {
		if _, known := knownEnv[k]; !known {
			r.errorf(file, "service %s: environment %s is not a setting of the service (docs/configuration.md)", comp, k)
			continue
		}
		if v == nil {
			r.errorf(file, "service %s: environment %s has no value", comp, k)
			continue
		}
		env[k] = *v
		if err := checkEnvValue(k, *v); err != nil {
			r.errorf(file, "service %s: environment %s: %v", comp, k, err)
		}
	}
	for _, k := range requiredEnv[comp] {
		if _, ok := env[k]; !ok {
			r.errorf(file, "service %s: environment %s is not set (the %s needs it)", comp, k, comp)
		}
	}
	addrVar := map[string]string{"producer": "PRODUCER_ADDR", "worker": "WORKER_HEALTH_ADDR"}[comp]
	if v, ok := env[addrVar]; ok {
		if host, _, err := net.SplitHostPort(v); err == nil {
			if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
				r.errorf(file, "service %s: %s %s listens on the loopback only: unreachable from other containers", comp, addrVar, v)
			}
		}
	}
	if c, ok := p.Configs["metrics_token"]; ok && env["METRICS_TOKEN"] != "" && c.Content != env["METRICS_TOKEN"] {
		r.errorf(file, "service %s: METRICS_TOKEN differs from the config metrics_token that Prometheus sends", comp)
	}
	switch comp {
	case "producer":
		port, _ := addrPort(env["PRODUCER_ADDR"])
		if !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return int(pc.Target) == port && pc.Published != "" }) {
			r.errorf(file, "service producer: publish PRODUCER_ADDR's port %d", port)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= producerShutdown {
			r.errorf(file, "service producer: stop_grace_period must be above the producer's %s shutdown timeout", producerShutdown)
		}
	case "worker":
		if s.ContainerName != "" {
			r.errorf(file, "service worker: container_name %q prevents --scale worker=N", s.ContainerName)
		}
		if len(s.Ports) > 0 {
			r.errorf(file, "service worker: published ports clash when scaled (--scale worker=N); use expose")
		}
		stop := shutdownTimeout(env["WORKER_SHUTDOWN_TIMEOUT"])
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= stop {
			r.errorf(file, "service worker: stop_grace_period must be above WORKER_SHUTDOWN_TIMEOUT (%s), or Docker kills tasks still finishing", stop)
		}
	}
}
