package lifecycle

import (
	"fmt"
	"strings"
)

// Markdown draws the state machines as docs/state-machine.md holds them: for
// each, a mermaid diagram and the table of moves with who makes them. A test
// keeps the document equal to it.
func Markdown() string {
	var b strings.Builder
	section(&b, "Import", "imports.state", ImportMoves())
	section(&b, "Chunk", "import_chunks.state", ChunkMoves())
	section(&b, "Feed run", "feed_runs.state", FeedRunMoves())
	return b.String()
}

func section[S ~string](b *strings.Builder, name, column string, moves []Move[S]) {
	fmt.Fprintf(b, "### %s (`%s`)\n\n```mermaid\nstateDiagram-v2\n", name, column)
	for _, m := range moves {
		from := string(m.From)
		if from == "" {
			from = "[*]"
		}
		fmt.Fprintf(b, "    %s --> %s\n", from, m.To)
	}
	b.WriteString("```\n\n| from | to | made by |\n| --- | --- | --- |\n")
	for _, m := range moves {
		from := "(new)"
		if m.From != "" {
			from = "`" + string(m.From) + "`"
		}
		fmt.Fprintf(b, "| %s | `%s` | %s |\n", from, m.To, m.By)
	}
	b.WriteString("\n")
}
