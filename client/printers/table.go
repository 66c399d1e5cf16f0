package printers

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/bosun-dev/bosun/api/table"
)

// WriteTable prints t aligned with a tabwriter, as kubectl does; wide
// columns only when wide is set, and no header line when noHeaders is set.
func WriteTable(w io.Writer, t table.Table, wide, noHeaders bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	keep := make([]bool, len(t.Columns))
	var header []string
	for i, c := range t.Columns {
		keep[i] = wide || !c.Wide
		if keep[i] {
			header = append(header, c.Name)
		}
	}
	if !noHeaders {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, row := range t.Rows {
		var cells []string
		for i, c := range row {
			if i < len(keep) && keep[i] {
				cells = append(cells, c)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("printers: write table: %w", err)
	}
	return nil
}
