package apiserver

import (
	"net/http"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/api/table"
)

// wantsTable reports whether the client asked for a meta.k8s.io Table
// (kubectl's server-side printing).
func wantsTable(req *http.Request) bool {
	for _, part := range strings.Split(req.Header.Get("Accept"), ",") {
		params := strings.Split(part, ";")
		var as, g string
		for _, p := range params[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch k {
			case "as":
				as = v
			case "g":
				g = v
			}
		}
		if as == "Table" && g == "meta.k8s.io" {
			return true
		}
	}
	return false
}

// table renders objs as the Table kubectl prints, with the same columns as
// `bosun get` (both come from api/table). kubectl adds the NAMESPACE column
// itself.
func (s *Server) table(r api.Resource, objs []api.Object, rev int64) metav1.Table {
	t := table.For(r, objs, table.Options{Now: s.cfg.Now()})
	out := metav1.Table{
		TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"},
		Rows:     make([]metav1.TableRow, 0, len(t.Rows)),
	}
	if rev > 0 {
		out.ResourceVersion = strconv.FormatInt(rev, 10)
	}
	for _, c := range t.Columns {
		def := metav1.TableColumnDefinition{Name: c.Name, Type: "string"}
		if c.Wide {
			def.Priority = 1
		}
		if c.Name == "NAME" {
			def.Format = "name"
		}
		out.ColumnDefinitions = append(out.ColumnDefinitions, def)
	}
	for i, row := range t.Rows {
		cells := make([]any, len(row))
		for j, c := range row {
			cells[j] = c
		}
		out.Rows = append(out.Rows, metav1.TableRow{
			Cells:  cells,
			Object: runtime.RawExtension{Object: typed(r, objs[i])},
		})
	}
	return out
}
