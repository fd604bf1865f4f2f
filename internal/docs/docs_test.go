package docs_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/docs"
)

const root = "../.."

// Every relative link and #anchor of README.md and docs/*.md resolves.
func TestLinksResolve(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		files[i], _ = filepath.Rel(root, f)
	}
	files = append([]string{"README.md"}, files...)
	if !slices.Contains(files, filepath.Join("docs", "configuration.md")) {
		t.Fatalf("docs/*.md lacks configuration.md: %v", files)
	}
	problems, err := docs.Check(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for heading, want := range map[string]string{
		"importctl migrate, roles, tokens, export":            "importctl-migrate-roles-tokens-export",
		"Health, shutdown and upgrades":                       "health-shutdown-and-upgrades",
		"The `import:plan` task":                              "the-importplan-task",
		"make demo, make test and make test-faults in detail": "make-demo-make-test-and-make-test-faults-in-detail",
		"Génération 2 — à la carte":                           "génération-2--à-la-carte",
	} {
		if got := docs.Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

// The checker reports a missing file, a missing heading, and nothing in code.
func TestCheckFindsBrokenLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# Top\n\n[ok](docs/a.md#second-part) [gone](docs/gone.md) [bad](docs/a.md#nowhere) [self](#top) [web](https://example.com/x)\n"+
		"`[in code](nowhere.md)`\n\n```\n[in a block](nowhere.md)\n```\n[dir](docs/) [again](docs/a.md#second-part-1)\n")
	write("docs/a.md", "# A\n\n## Second part\n\n## Second part\n")
	got, err := docs.Check(dir, []string{"README.md"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"README.md:3: docs/gone.md: no such file",
		"README.md:3: docs/a.md#nowhere: docs/a.md has no heading #nowhere",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
}
