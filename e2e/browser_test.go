package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The checks every page the browser tests visit goes through: a screenshot
// kept as an artifact, the accessibility check of axe-core (no serious or
// critical violation), and the same page at a phone's width, where nothing
// may stick out sideways.

// phoneWidth and phoneHeight are the emulated phone's screen (an iPhone 12's
// CSS pixels).
const phoneWidth, phoneHeight = 390, 844

// axeSource returns axe-core's axe.min.js, installed by deploy/local/tools.sh
// (npm's axe-core, pinned there). The browser tests fail, not skip, without it.
func axeSource(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "../deploy/local/tools.sh", "axe").Output()
	path := strings.TrimSpace(string(out))
	if err != nil || path == "" {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); asExit(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("no axe-core for the accessibility check: deploy/local/tools.sh axe failed (%v): %s", err, stderr)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// pageCheck checks the pages a browser shows and keeps their screenshots.
type pageCheck struct {
	ctx   context.Context // the browser tab's
	dir   string          // where the screenshots go
	axe   string          // axe.min.js
	taken map[string]bool // the screenshots' names, to keep each once
}

// newPageCheck checks the pages of the browser tab ctx with axe, the
// source of axe.min.js (axeSource), saving the screenshots in dir.
func newPageCheck(ctx context.Context, axe, dir string) *pageCheck {
	return &pageCheck{ctx: ctx, dir: dir, axe: axe, taken: map[string]bool{}}
}

// axeViolation is one rule axe-core found broken, with the elements breaking it.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	HelpURL string   `json:"helpUrl"`
	Targets []string `json:"targets"`
}

// axeRun runs axe-core on the document and keeps the serious and critical
// violations. The pages' Content-Security-Policy allows no script; the
// DevTools protocol's evaluation is not subject to it.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations
	.filter(v => v.impact === "serious" || v.impact === "critical")
	.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
		targets: v.nodes.slice(0, 5).map(n => n.target.join(" "))}))))`

// overflowing measures the page, and lists the elements that reach beyond
// the phone's right edge (outside a scrolling box), at most 5, as
// tag#id.class. A mobile browser widens its window to a page too wide for
// the screen: innerWidth is then more than the phone's width.
var overflowing = `JSON.stringify({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
	wide: [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > ` + strconv.Itoa(phoneWidth) + ` + 1 &&
		!e.closest(".scroll")).slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
		(e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : ""))})`

// check runs the checks on the page the browser shows, saving name.png and
// name-phone.png. The page is the same afterwards, at the desktop's size.
func (c *pageCheck) check(t *testing.T, name string) {
	t.Helper()
	if c.taken[name] {
		t.Fatalf("screenshot %s taken twice", name)
	}
	c.taken[name] = true
	c.shot(t, name)
	if _, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](c.axe+"\n;true")); err != nil {
		t.Fatalf("%s: inject axe-core: %v", name, err)
	}
	out, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", name, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("%s: axe.run answered %q: %v", name, out, err)
	}
	for _, v := range vs {
		t.Errorf("%s: accessibility: %s (%s): %s %v; see %s", name, v.ID, v.Impact, v.Help, v.Targets, v.HelpURL)
	}

	if err := chromedp.Do(c.ctx, chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulatePortrait)); err != nil {
		t.Fatalf("%s: phone width: %v", name, err)
	}
	defer func() {
		if err := chromedp.Do(c.ctx, chromedp.ResetViewport()); err != nil {
			t.Fatalf("%s: desktop width: %v", name, err)
		}
	}()
	out, err = chromedp.Run(c.ctx, chromedp.Evaluate[string](overflowing))
	if err != nil {
		t.Fatalf("%s: measure the width: %v", name, err)
	}
	var m struct {
		ScrollWidth int      `json:"scrollWidth"`
		InnerWidth  int      `json:"innerWidth"`
		Wide        []string `json:"wide"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%s: %q: %v", name, out, err)
	}
	if m.ScrollWidth > m.InnerWidth || m.InnerWidth > phoneWidth {
		t.Errorf("%s at a phone's width (%d px): the page is %d px wide in a %d px window; too wide: %v", name, phoneWidth, m.ScrollWidth, m.InnerWidth, m.Wide)
	}
	c.shot(t, name+"-phone")
}

func (c *pageCheck) shot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// browserAllocator starts headless Chromium at path for a test.
func browserAllocator(t *testing.T, path string) context.Context {
	t.Helper()
	alloc, cancel := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 1000))...)
	t.Cleanup(cancel)
	return alloc
}

// artifactDir is a folder of the screenshots' directory (see screenshots).
func artifactDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(screenshots(t), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	t.Logf("this test's screenshots in %s", abs)
	return dir
}
