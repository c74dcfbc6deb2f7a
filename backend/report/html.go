package report

import (
	"fmt"
	"html/template"
	"io"
)

// page is the report's HTML: one page, inline style, figures by relative path.
const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td.l, th.l { text-align: left; }
.sim { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 1em; }
figure { display: inline-block; margin: 0.5em; }
figcaption { font-size: 0.85em; color: #555; max-width: 576px; }
img { max-width: 100%; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>Dataset: <code>{{.Dataset}}</code></p>
{{if .Simulated}}<p class="sim"><b>SIMULATED data.</b> Test scores are against the known ground truth; the noise
ceiling is the correlation of the noise-free truth with the measured responses.</p>{{end}}
<h2>Models side by side</h2>
<table id="models">
<tr><th class="l">model</th><th>subject</th><th class="l">kind</th><th class="l">features</th><th>vertices</th>
<th>val mean r</th><th>val median r</th>{{if .Simulated}}<th>test r (truth)</th><th>V1–V3 noise-ceiling fraction</th>{{end}}</tr>
{{range .Models}}<tr><td class="l"><a href="#{{.Name}}">{{.Name}}</a></td><td>{{printf "subj%02d" .Subject}}</td><td class="l">{{.Kind}}</td>
<td class="l">{{.Features}}</td><td>{{.Vertices}}</td><td>{{f3 .ValMeanR}}</td><td>{{f3 .ValMedianR}}</td>{{if $.Simulated}}<td>{{f3 .TruthMeanR}}</td><td>{{pct .EarlyFraction}}</td>{{end}}</tr>
{{end}}</table>
{{with .Comparison}}<figure><img src="{{.File}}" width="{{.Width}}" height="{{.Height}}" alt="{{.Caption}}"><figcaption>{{.Caption}}</figcaption></figure>{{end}}
{{range .Models}}
<h2 id="{{.Name}}">{{.Name}}</h2>
<p>{{printf "subj%02d" .Subject}}, {{.Kind}} on <code>{{.Features}}</code>{{if .Created}}, trained {{.Created}}{{end}}.</p>
{{range .Figures}}<figure><img src="{{.File}}" width="{{.Width}}" height="{{.Height}}" alt="{{.Caption}}"><figcaption>{{.Caption}}</figcaption></figure>
{{end}}
<table>
<tr><th class="l">hemi</th><th class="l">ROI class</th><th class="l">ROI</th><th>vertices</th><th>val r</th>{{if $.Simulated}}<th>test r (truth)</th><th>test r (measured)</th><th>ceiling r</th><th>ceiling fraction</th>{{end}}</tr>
{{range .ROIs}}<tr><td class="l">{{.Hemi}}</td><td class="l">{{.Class}}</td><td class="l">{{.Name}}</td><td>{{.Vertices}}</td><td>{{f3 .ValR}}</td>{{if $.Simulated}}<td>{{f3 .TruthR}}</td><td>{{f3 .MeasR}}</td><td>{{f3 .CeilingR}}</td><td>{{pct .Fraction}}</td>{{end}}</tr>
{{end}}</table>
{{end}}
</body>
</html>
`

// renderHTML writes the page for s.
func renderHTML(w io.Writer, s *Summary) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"f3":  func(x float64) string { return fmt.Sprintf("%.3f", x) },
		"pct": func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) },
	}).Parse(page)
	if err != nil {
		return err
	}
	return t.Execute(w, s)
}
