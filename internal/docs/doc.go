// Package docs owns the checks of the repository's Markdown: every relative
// link of README.md and docs/*.md names a file that exists and, with a
// #fragment, a heading of it (GitHub's anchors). Its test runs in make test;
// make docs-check runs it alone.
package docs

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// Link is a link of a Markdown file.
type Link struct {
	File   string // the file it is in
	Line   int
	Target string // as written: path, path#anchor or #anchor
}

var (
	inlineLink = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
	heading    = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
)

// Links returns the links of a Markdown document, outside code blocks and
// code spans.
func Links(file string, md []byte) []Link {
	var links []Link
	forLines(md, func(n int, line string) {
		for _, m := range inlineLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			links = append(links, Link{File: file, Line: n, Target: m[1]})
		}
	})
	return links
}

// Anchors returns the fragments a document's headings and <a id> tags
// answer to, as GitHub makes them.
func Anchors(md []byte) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	forLines(md, func(_ int, line string) {
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			return
		}
		slug := Slug(m[2])
		if k := seen[slug]; k > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, k)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	})
	return anchors
}

// Slug is GitHub's anchor of a heading: lower case, punctuation dropped,
// spaces turned into hyphens.
func Slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// forLines calls fn with each line outside fenced code blocks.
func forLines(md []byte, fn func(n int, line string)) {
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(nil, 1<<20)
	fence := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		fn(n, line)
	}
}

// Check returns a problem for each relative link of the files (paths
// relative to root) that names a missing file or heading.
func Check(root string, files []string) ([]string, error) {
	var problems []string
	fsys := os.DirFS(root) // the checked files lie under root: no path leaves it
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		md, err := fs.ReadFile(fsys, filepath.ToSlash(path))
		if err != nil {
			return nil, err
		}
		anchors[path] = Anchors(md)
		return anchors[path], nil
	}
	for _, f := range files {
		md, err := fs.ReadFile(fsys, filepath.ToSlash(f))
		if err != nil {
			return nil, err
		}
		for _, l := range Links(f, md) {
			if strings.Contains(l.Target, "://") || strings.HasPrefix(l.Target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(l.Target, "#")
			target := f
			if path != "" {
				target = filepath.Join(filepath.Dir(f), path)
				if _, err := os.Stat(filepath.Join(root, target)); err != nil {
					problems = append(problems, fmt.Sprintf("%s:%d: %s: no such file", l.File, l.Line, l.Target))
					continue
				}
			}
			if frag == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			a, err := anchorsOf(target)
			if err != nil {
				return nil, err
			}
			if !a[frag] {
				problems = append(problems, fmt.Sprintf("%s:%d: %s: %s has no heading #%s", l.File, l.Line, l.Target, target, frag))
			}
		}
	}
	return problems, nil
}
