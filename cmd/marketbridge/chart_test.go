package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/marketbridge/marketbridge/internal/config"
)

// The Helm chart's tests (#17) render deploy/helm/marketbridge with helm, as
// a cluster would receive it, and check what an operator relies on. helm is
// found at $MARKETBRIDGE_TEST_HELM or on PATH; without it the tests skip,
// except in CI (CI=true), where they fail: .ci/run builds helm from the Go
// module proxy.

const (
	chartDir = "../../deploy/helm/marketbridge"
	// kubeVersion is what the chart is rendered for: helm built from the
	// module proxy assumes Kubernetes 1.20, below the chart's kubeVersion.
	kubeVersion = "1.31.0"
)

// chartManaged are serve's flags that the chart sets from other values, and
// chartSecrets those it reads from existing Secrets only; every other flag
// of serve must be a key of values.yaml's config.
var (
	chartManaged = []string{"addr", "metrics-addr", "data", "database-url", "catalog", "webhooks-file"}
	chartSecrets = []string{"smtp-url", "oidc-client-secret", "eventbridge-api-key", "webhook-secret", "azure-client-secret"}
)

func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MARKETBRIDGE_TEST_HELM"); p != "" {
		return p
	}
	p, err := exec.LookPath("helm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("helm is not installed: CI must run the chart's tests (go install helm.sh/helm/v3/cmd/helm@v3.22.0, or set MARKETBRIDGE_TEST_HELM)")
		}
		t.Skip("helm is not installed (set MARKETBRIDGE_TEST_HELM or put helm on PATH); CI=true makes this a failure")
	}
	return p
}

// k8sObject is one rendered manifest. An alias: the YAML decoder gives
// nested maps the type of the outer one.
type k8sObject = map[string]any

func kindOf(o k8sObject) string { return str(o["kind"]) }
func nameOf(o k8sObject) string { return str(dig(o, "metadata", "name")) }

// dig walks maps by key and lists by index ("0").
func dig(v any, path ...string) any {
	for _, p := range path {
		switch m := v.(type) {
		case map[string]any:
			v = m[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(m) {
				return nil
			}
			v = m[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// renderChart runs helm template with args and returns the objects, or
// helm's error output.
func renderChart(t *testing.T, args ...string) ([]k8sObject, error) {
	t.Helper()
	argv := append([]string{"template", "mb", chartDir, "--namespace", "billing", "--kube-version", kubeVersion}, args...)
	cmd := exec.Command(helmBinary(t), argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// Not the arguments: a test passes a secret in them to see it refused.
		return nil, fmt.Errorf("helm template: %w: %s", err, stderr.String())
	}
	var objs []k8sObject
	dec := yaml.NewDecoder(&stdout)
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template's output is not YAML: %v", err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs, nil
}

func mustRender(t *testing.T, args ...string) []k8sObject {
	t.Helper()
	objs, err := renderChart(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func findObject(objs []k8sObject, kind string) k8sObject {
	for _, o := range objs {
		if kindOf(o) == kind {
			return o
		}
	}
	return nil
}

// containerEnv is a container's environment: name to value, and the names
// read from a Secret, with "secret/key" as their value.
func containerEnv(t *testing.T, container any) (plain, fromSecret map[string]string) {
	t.Helper()
	plain, fromSecret = map[string]string{}, map[string]string{}
	env, _ := dig(container, "env").([]any)
	for _, e := range env {
		name := str(dig(e, "name"))
		if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
			fromSecret[name] = str(dig(ref, "name")) + "/" + str(dig(ref, "key"))
			continue
		}
		if _, dup := plain[name]; dup {
			t.Errorf("environment variable %s is set twice", name)
		}
		plain[name] = str(dig(e, "value"))
	}
	return plain, fromSecret
}

func envPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q is not host:port: %v", addr, err)
	}
	return port
}

// TestChart_Lint: helm lint --strict passes on the defaults and on every
// value set the tests render (#17).
func TestChart_Lint(t *testing.T) {
	sets, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(sets) == 0 {
		t.Fatalf("no value sets in %s/ci: %v", chartDir, err)
	}
	for _, values := range append([]string{""}, sets...) {
		args := []string{"lint", "--strict", "--kube-version", kubeVersion, chartDir}
		if values != "" {
			args = append(args, "-f", values)
		}
		out, err := exec.Command(helmBinary(t), args...).CombinedOutput()
		if err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestChart_ValueSets renders the chart with the README's EKS values, the
// one-replica SQLite case and others, and checks the replicas, the image,
// the probes, the migration hook and where every secret comes from (#17).
func TestChart_ValueSets(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		replicas   int
		image      string
		postgres   bool
		ingress    bool
		monitor    bool
		wantEnv    map[string]string // plain values the container must have
		wantSecEnv map[string]string // variables read from Secrets: secret/key
	}{
		{
			name: "defaults", replicas: 2, image: "marketbridge:0.1.0", postgres: true,
			wantSecEnv: map[string]string{"MARKETBRIDGE_DATABASE_URL": "marketbridge-database/url"},
		},
		{
			name: "EKS values of the README", args: []string{"-f", chartDir + "/ci/eks-values.yaml"}, replicas: 3,
			image: "111122223333.dkr.ecr.us-east-1.amazonaws.com/marketbridge:1.4.0", postgres: true, ingress: true, monitor: true,
			wantEnv: map[string]string{"MARKETBRIDGE_BASE_URL": "https://billing.example.com", "AWS_REGION": "us-east-1",
				"MARKETBRIDGE_TRUST_PROXY_HEADERS": "true", "MARKETBRIDGE_AWS_ACCOUNT_ID": "111122223333"},
			wantSecEnv: map[string]string{"MARKETBRIDGE_DATABASE_URL": "marketbridge-database/url",
				"MARKETBRIDGE_SMTP_URL": "marketbridge-smtp/url", "MARKETBRIDGE_EVENTBRIDGE_API_KEY": "marketbridge-eventbridge/api-key"},
		},
		{
			name: "SQLite, one replica on a volume", args: []string{"-f", chartDir + "/ci/sqlite-values.yaml"}, replicas: 1,
			image: "marketbridge:0.1.0", postgres: false,
			wantEnv: map[string]string{"MARKETBRIDGE_DATA": "/data", "MARKETBRIDGE_CATALOG": "/etc/marketbridge/catalog/catalog.json"},
		},
		{
			name: "five replicas, image by digest", replicas: 5, postgres: true,
			args:  []string{"--set", "replicaCount=5", "--set", "image.repository=registry.example.com/mb", "--set", "image.digest=sha256:" + strings.Repeat("ab", 32)},
			image: "registry.example.com/mb@sha256:" + strings.Repeat("ab", 32),
		},
		{
			name: "metrics on another port", replicas: 2, image: "marketbridge:0.1.0", postgres: true,
			args:    []string{"--set", "metrics.port=9100", "--set", "service.targetPort=8000"},
			wantEnv: map[string]string{"MARKETBRIDGE_METRICS_ADDR": ":9100", "MARKETBRIDGE_ADDR": ":8000"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := mustRender(t, tc.args...)
			dep := findObject(objs, "Deployment")
			if dep == nil {
				t.Fatal("no Deployment rendered")
			}
			if got := str(dig(dep, "spec", "replicas")); got != strconv.Itoa(tc.replicas) {
				t.Errorf("replicas = %s, want %d", got, tc.replicas)
			}
			wantStrategy := map[bool]string{true: "RollingUpdate", false: "Recreate"}[tc.postgres]
			if got := str(dig(dep, "spec", "strategy", "type")); got != wantStrategy {
				t.Errorf("strategy = %s, want %s", got, wantStrategy)
			}
			c := dig(dep, "spec", "template", "spec", "containers", "0")
			if got := str(dig(c, "image")); got != tc.image {
				t.Errorf("image = %q, want %q", got, tc.image)
			}
			if got := dig(c, "args"); !slices.Equal(toStrings(got), []string{"serve"}) {
				t.Errorf("args = %v, want [serve]", got)
			}
			plain, secret := containerEnv(t, c)
			for k, v := range tc.wantEnv {
				if plain[k] != v {
					t.Errorf("%s = %q, want %q", k, plain[k], v)
				}
			}
			for k, v := range tc.wantSecEnv {
				if secret[k] != v {
					t.Errorf("%s from Secret %q, want %q", k, secret[k], v)
				}
			}
			checkPorts(t, objs, dep, plain)
			checkProbes(t, c)
			checkNoSecretInPlainText(t, objs)
			checkMigrationHook(t, objs, dep, tc.postgres)
			checkSQLiteVolume(t, objs, dep, tc.postgres)
			if got := findObject(objs, "Ingress") != nil; got != tc.ingress {
				t.Errorf("Ingress rendered: %v, want %v", got, tc.ingress)
			}
			if sm := findObject(objs, "ServiceMonitor"); (sm != nil) != tc.monitor {
				t.Errorf("ServiceMonitor rendered: %v, want %v", sm != nil, tc.monitor)
			} else if sm != nil && str(dig(sm, "spec", "endpoints", "0", "port")) != "metrics" {
				t.Errorf("ServiceMonitor scrapes port %v, want metrics", dig(sm, "spec", "endpoints", "0", "port"))
			}
			if pdb := findObject(objs, "PodDisruptionBudget"); pdb == nil || str(dig(pdb, "spec", "maxUnavailable")) != "1" {
				t.Errorf("PodDisruptionBudget = %v, want maxUnavailable 1", pdb)
			}
			if dig(c, "resources", "requests", "cpu") == nil || dig(c, "resources", "requests", "memory") == nil {
				t.Errorf("the container has no resource requests: %v", dig(c, "resources"))
			}
		})
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		out = append(out, str(x))
	}
	return out
}

// checkPorts: serve listens where the container port "http" says, /metrics
// where "metrics" says, and the Service forwards both to the serving pods.
func checkPorts(t *testing.T, objs []k8sObject, dep k8sObject, env map[string]string) {
	t.Helper()
	c := dig(dep, "spec", "template", "spec", "containers", "0")
	ports := map[string]string{}
	for _, p := range dig(c, "ports").([]any) {
		ports[str(dig(p, "name"))] = str(dig(p, "containerPort"))
	}
	if got := envPort(t, env["MARKETBRIDGE_ADDR"]); got != ports["http"] {
		t.Errorf("MARKETBRIDGE_ADDR port %s, container port http %s", got, ports["http"])
	}
	if got := envPort(t, env["MARKETBRIDGE_METRICS_ADDR"]); got != ports["metrics"] || got == ports["http"] {
		t.Errorf("MARKETBRIDGE_METRICS_ADDR port %s, container ports %v: want metrics on a port of its own", got, ports)
	}
	svc := findObject(objs, "Service")
	if svc == nil {
		t.Fatal("no Service rendered")
	}
	var targets []string
	for _, p := range dig(svc, "spec", "ports").([]any) {
		targets = append(targets, str(dig(p, "targetPort")))
	}
	if !slices.Contains(targets, "http") || !slices.Contains(targets, "metrics") {
		t.Errorf("Service targets %v, want http and metrics", targets)
	}
	podLabels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	if !selects(dig(svc, "spec", "selector"), podLabels) {
		t.Errorf("the Service's selector %v does not select the pods %v", dig(svc, "spec", "selector"), podLabels)
	}
}

// selects says whether a label selector (matchLabels or a Service's
// selector) matches labels.
func selects(selector any, labels map[string]any) bool {
	sel, _ := selector.(map[string]any)
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if str(labels[k]) != str(v) {
			return false
		}
	}
	return true
}

// checkProbes: readiness, liveness and startup all ask /healthz on the
// console's port; liveness gives up later than readiness, so that a short
// database outage takes pods out of the Service before it restarts them.
func checkProbes(t *testing.T, c any) {
	t.Helper()
	budget := map[string]int{}
	for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
		p := dig(c, probe)
		if p == nil {
			t.Errorf("no %s", probe)
			continue
		}
		if path, port := str(dig(p, "httpGet", "path")), str(dig(p, "httpGet", "port")); path != "/healthz" || port != "http" {
			t.Errorf("%s asks %s on port %s, want /healthz on http", probe, path, port)
		}
		period, _ := strconv.Atoi(str(dig(p, "periodSeconds")))
		failures, _ := strconv.Atoi(str(dig(p, "failureThreshold")))
		budget[probe] = period * failures
	}
	if budget["livenessProbe"] <= budget["readinessProbe"] {
		t.Errorf("liveness gives up after %ds, readiness after %ds: want liveness the more patient", budget["livenessProbe"], budget["readinessProbe"])
	}
}

// secretEnvNames are the variables that hold secrets.
func secretEnvNames() []string {
	names := []string{config.EnvName("database-url")}
	for _, f := range chartSecrets {
		names = append(names, config.EnvName(f))
	}
	return names
}

// checkNoSecretInPlainText: the chart makes no Secret (the operator's are
// referenced by name), and every variable that holds a secret is read from
// one, in the pods and in the migration Job.
func checkNoSecretInPlainText(t *testing.T, objs []k8sObject) {
	t.Helper()
	for _, o := range objs {
		if kindOf(o) == "Secret" {
			t.Errorf("the chart renders Secret %s: secrets must come from existing Secrets", nameOf(o))
		}
		var containers []any
		switch kindOf(o) {
		case "Deployment", "Job", "StatefulSet":
			containers, _ = dig(o, "spec", "template", "spec", "containers").([]any)
		}
		for _, c := range containers {
			plain, _ := containerEnv(t, c)
			for _, name := range secretEnvNames() {
				if v, ok := plain[name]; ok {
					t.Errorf("%s %s sets %s in plain text (%q)", kindOf(o), nameOf(o), name, v)
				}
			}
		}
	}
}

// checkMigrationHook: on PostgreSQL a Job runs `marketbridge migrate` before
// install and upgrade, before the Deployment is applied; it uses nothing the
// chart creates (a pre-install hook runs before those exist), and the
// serving pods' selectors do not take its pod for theirs.
func checkMigrationHook(t *testing.T, objs []k8sObject, dep k8sObject, postgres bool) {
	t.Helper()
	var jobs []k8sObject
	hookWeights := map[string]int{}
	for _, o := range objs {
		hook := str(dig(o, "metadata", "annotations", "helm.sh/hook"))
		if kindOf(o) == "Job" {
			jobs = append(jobs, o)
		}
		if hook == "" {
			continue
		}
		w, err := strconv.Atoi(str(dig(o, "metadata", "annotations", "helm.sh/hook-weight")))
		if err != nil {
			t.Errorf("hook %s %s has no numeric helm.sh/hook-weight: %v", kindOf(o), nameOf(o), err)
		}
		hookWeights[kindOf(o)+"/"+nameOf(o)] = w
	}
	if !postgres {
		if len(jobs) != 0 {
			t.Errorf("SQLite renders %d Job(s): the one pod migrates its own file, and a Job could not share its volume", len(jobs))
		}
		return
	}
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs rendered, want the migration Job", len(jobs))
	}
	job := jobs[0]
	ann := func(k string) string { return str(dig(job, "metadata", "annotations", k)) }
	if hooks := strings.Split(ann("helm.sh/hook"), ","); !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") || len(hooks) != 2 {
		t.Errorf("migration Job's hooks = %q, want pre-install,pre-upgrade", ann("helm.sh/hook"))
	}
	if policy := strings.Split(ann("helm.sh/hook-delete-policy"), ","); !slices.Contains(policy, "before-hook-creation") {
		t.Errorf("migration Job's delete policy = %q: without before-hook-creation the next upgrade fails on the old Job", ann("helm.sh/hook-delete-policy"))
	}
	// Hooks of the same phase run in weight order: any hook the Job needs
	// must weigh less. The Job needs none today, so none may weigh less and
	// run before it by mistake, nor share its weight (order by name).
	jobWeight := hookWeights["Job/"+nameOf(job)]
	for name, w := range hookWeights {
		if name != "Job/"+nameOf(job) && w <= jobWeight {
			t.Errorf("hook %s (weight %d) runs before the migration Job (weight %d)", name, w, jobWeight)
		}
	}
	pod := dig(job, "spec", "template", "spec")
	c := dig(pod, "containers", "0")
	if got := toStrings(dig(c, "args")); !slices.Equal(got, []string{"migrate"}) {
		t.Errorf("migration Job runs %v, want [migrate]", got)
	}
	if str(dig(c, "image")) != str(dig(dep, "spec", "template", "spec", "containers", "0", "image")) {
		t.Errorf("migration Job runs image %v, the Deployment %v", dig(c, "image"), dig(dep, "spec", "template", "spec", "containers", "0", "image"))
	}
	if str(dig(pod, "restartPolicy")) != "Never" {
		t.Errorf("migration Job's restartPolicy = %v, want Never (backoffLimit retries)", dig(pod, "restartPolicy"))
	}
	if sa := str(dig(pod, "serviceAccountName")); sa != "" {
		t.Errorf("migration Job uses ServiceAccount %s, which a pre-install hook cannot count on", sa)
	}
	made := map[string]bool{}
	for _, o := range objs {
		if dig(o, "metadata", "annotations", "helm.sh/hook") == nil {
			made[nameOf(o)] = true
		}
	}
	for _, v := range toAnys(dig(pod, "volumes")) {
		for _, ref := range []any{dig(v, "configMap", "name"), dig(v, "secret", "secretName"), dig(v, "persistentVolumeClaim", "claimName")} {
			if made[str(ref)] {
				t.Errorf("migration Job mounts %s, which the chart creates after pre-install hooks", ref)
			}
		}
	}
	plain, secret := containerEnv(t, c)
	if secret["MARKETBRIDGE_DATABASE_URL"] == "" {
		t.Errorf("migration Job has no MARKETBRIDGE_DATABASE_URL from a Secret: %v %v", plain, secret)
	}
	for name, ref := range secret {
		if made[strings.Split(ref, "/")[0]] {
			t.Errorf("migration Job reads %s from %s, which the chart creates after pre-install hooks", name, ref)
		}
	}
	podLabels, _ := dig(job, "spec", "template", "metadata", "labels").(map[string]any)
	for _, o := range objs {
		var sel any
		switch kindOf(o) {
		case "Deployment", "PodDisruptionBudget":
			sel = dig(o, "spec", "selector", "matchLabels")
		case "Service":
			sel = dig(o, "spec", "selector")
		default:
			continue
		}
		if selects(sel, podLabels) {
			t.Errorf("%s %s selects the migration Job's pod", kindOf(o), nameOf(o))
		}
	}
}

func toAnys(v any) []any {
	l, _ := v.([]any)
	return l
}

// checkSQLiteVolume: SQLite keeps /data on a claim the chart keeps on
// uninstall; PostgreSQL keeps nothing there.
func checkSQLiteVolume(t *testing.T, objs []k8sObject, dep k8sObject, postgres bool) {
	t.Helper()
	var data any
	for _, v := range toAnys(dig(dep, "spec", "template", "spec", "volumes")) {
		if str(dig(v, "name")) == "data" {
			data = v
		}
	}
	pvc := findObject(objs, "PersistentVolumeClaim")
	if postgres {
		if pvc != nil || dig(data, "emptyDir") == nil {
			t.Errorf("PostgreSQL: /data is %v, claim %v; want an emptyDir and no claim", data, pvc)
		}
		return
	}
	if pvc == nil {
		t.Fatal("SQLite: no PersistentVolumeClaim rendered")
	}
	if got := str(dig(data, "persistentVolumeClaim", "claimName")); got != nameOf(pvc) {
		t.Errorf("SQLite: /data is %v, want the claim %s", data, nameOf(pvc))
	}
	if str(dig(pvc, "metadata", "annotations", "helm.sh/resource-policy")) != "keep" {
		t.Error("SQLite: the claim is not kept on uninstall: helm uninstall would delete the database")
	}
}

// TestChart_EverySettingIsAValue: every flag of serve is a key of
// values.yaml's config, a secret read from an existing Secret, or set by
// the chart; each config key and secret becomes its environment variable
// (#17). A flag added to serve without its value fails here.
func TestChart_EverySettingIsAValue(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Config  map[string]any `yaml:"config"`
		Secrets map[string]any `yaml:"secrets"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	findCommand(t, "serve").Flags.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(chartManaged, f.Name) {
			want = append(want, f.Name)
		}
	})
	for k := range values.Config {
		got = append(got, k)
	}
	for k := range values.Secrets {
		if !slices.Contains(chartSecrets, k) {
			t.Errorf("values.yaml's secrets.%s is not one of the secret settings %v", k, chartSecrets)
		}
		got = append(got, k)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("values.yaml's config and secrets keys differ from serve's flags (less those the chart sets, %v):\n got %v\nwant %v", chartManaged, got, want)
	}

	var every struct {
		Config  map[string]any               `yaml:"config"`
		Secrets map[string]map[string]string `yaml:"secrets"`
	}
	raw, err = os.ReadFile(filepath.Join(chartDir, "ci", "every-setting-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &every); err != nil {
		t.Fatal(err)
	}
	if len(every.Config) != len(values.Config) || len(every.Secrets) != len(values.Secrets) {
		t.Errorf("ci/every-setting-values.yaml sets %d settings and %d secrets, values.yaml has %d and %d",
			len(every.Config), len(every.Secrets), len(values.Config), len(values.Secrets))
	}
	dep := findObject(mustRender(t, "-f", filepath.Join(chartDir, "ci", "every-setting-values.yaml")), "Deployment")
	plain, secret := containerEnv(t, dig(dep, "spec", "template", "spec", "containers", "0"))
	for k, v := range every.Config {
		if got := plain[config.EnvName(k)]; got != fmt.Sprint(v) {
			t.Errorf("config.%s: %s = %q, want %q", k, config.EnvName(k), got, fmt.Sprint(v))
		}
	}
	for k, ref := range every.Secrets {
		if got := secret[config.EnvName(k)]; got != ref["secretName"]+"/"+ref["key"] {
			t.Errorf("secrets.%s: %s from %q, want %s/%s", k, config.EnvName(k), got, ref["secretName"], ref["key"])
		}
	}
	// The image's variables that the chart replaces are set once each.
	for _, k := range []string{"MARKETBRIDGE_ADDR", "MARKETBRIDGE_METRICS_ADDR", "MARKETBRIDGE_DATA", "MARKETBRIDGE_CATALOG", "MARKETBRIDGE_WEBHOOKS_FILE"} {
		if plain[k] == "" {
			t.Errorf("%s is not set", k)
		}
	}
}

// TestChart_RefusesValuesThatCannotWork: values that would lose data, run
// SQLite on several writers or put a secret in plain text fail the render
// with what to change (#17).
func TestChart_RefusesValuesThatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no database at all", []string{"--set", "database.existingSecret="}, "no database"},
		{"PostgreSQL and SQLite at once", []string{"--set", "persistence.enabled=true"}, "exclude each other"},
		{"SQLite on three replicas", []string{"--set", "database.existingSecret=", "--set", "persistence.enabled=true", "--set", "replicaCount=3"}, "one replica"},
		{"an SMTP password in plain text", []string{"--set", "config.smtp-url=smtp://u:hunter2@mail:587"}, "secrets.smtp-url"},
		{"a database URL in plain text", []string{"--set", "config.database-url=postgres://u:hunter2@db/mb"}, "database.existingSecret"},
		{"a webhook secret in plain text", []string{"--set", "config.webhook-secret=whsec_abc"}, "secrets.webhook-secret"},
		{"the listen address, which the probes follow", []string{"--set", "config.addr=:9999"}, "service.targetPort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderChart(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render with %v = %v, want a failure naming %q", tc.args, err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), "hunter2") {
				t.Errorf("the failure repeats the secret: %v", err)
			}
		})
	}
}
