//go:build ignore

// chart reads the output of the comparison benchmarks (go test -bench in
// internal/bench, as scripts/bench.sh saves it), takes the median of each
// benchmark over its runs, and writes:
//
//   - an SVG bar chart of each verifier's cost relative to the signature
//     floor of its algorithm (-out), and
//   - a Markdown table of medians and ratios for verification and issuance
//     (-table), for BENCHMARKS.md.
//
// Usage: go run scripts/chart.go -in docs/bench/raw.txt -out docs/verify-cost.svg -table docs/bench/table.md
package main

import (
	"bufio"
	"flag"
	"fmt"
	"html"
	"log"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A result line: BenchmarkVerify/alg=EdDSA/impl=writ-2  N  x ns/op  y B/op  z allocs/op
var line = regexp.MustCompile(`^Benchmark(\w+)/alg=([\w.-]+)/impl=([\w.+-]+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

type key struct{ bench, alg, impl string }

type samples struct{ ns, bytes, allocs []float64 }

type result struct {
	key
	ns, bytes, allocs float64
	n                 int
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	in := flag.String("in", "docs/bench/raw.txt", "go test -bench output")
	out := flag.String("out", "docs/verify-cost.svg", "SVG chart to write")
	table := flag.String("table", "", "Markdown table to write (optional)")
	flag.Parse()

	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	data := map[key]*samples{}
	var order []key
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		k := key{m[1], m[2], m[3]}
		s := data[k]
		if s == nil {
			s = &samples{}
			data[k] = s
			order = append(order, k)
		}
		num := func(t string) float64 { v, _ := strconv.ParseFloat(t, 64); return v }
		s.ns = append(s.ns, num(m[4]))
		s.bytes = append(s.bytes, num(m[5]))
		s.allocs = append(s.allocs, num(m[6]))
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	if len(order) == 0 {
		log.Fatalf("no benchmark results in %s", *in)
	}
	var results []result
	for _, k := range order {
		s := data[k]
		results = append(results, result{key: k, ns: median(s.ns), bytes: median(s.bytes), allocs: median(s.allocs), n: len(s.ns)})
	}
	floor := map[[2]string]float64{}
	for _, r := range results {
		if r.impl == "floor" {
			floor[[2]string{r.bench, r.alg}] = r.ns
		}
	}
	if err := os.WriteFile(*out, svg(results, floor), 0o644); err != nil {
		log.Fatal(err)
	}
	if *table != "" {
		if err := os.WriteFile(*table, markdown(results, floor), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func markdown(results []result, floor map[[2]string]float64) []byte {
	var b strings.Builder
	bench := ""
	for _, r := range results {
		if r.bench != bench {
			bench = r.bench
			fmt.Fprintf(&b, "\n| %s | implementation | median µs | × floor | allocs/op | B/op | runs |\n|---|---|---:|---:|---:|---:|---:|\n", bench)
		}
		ratio := "–"
		if fl := floor[[2]string{r.bench, r.alg}]; fl > 0 {
			ratio = fmt.Sprintf("%.3f", r.ns/fl)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f | %.0f | %d |\n", r.alg, r.impl, micro(r.ns), ratio, r.allocs, r.bytes, r.n)
	}
	return []byte(b.String())
}

var colors = map[string]string{
	"floor":          "#888888",
	"writ":           "#1f77b4",
	"writ-signature": "#9467bd",
	"golang-jwt":     "#ff7f0e",
	"jwx":            "#2ca02c",
	"go-paseto":      "#d62728",
}

// svg draws one group of horizontal bars per algorithm: each verifier's
// median time divided by the floor's, with a line at 1×.
func svg(results []result, floor map[[2]string]float64) []byte {
	const (
		left, right = 190.0, 90.0
		width       = 760.0
		barH, gap   = 18.0, 4.0
		groupGap    = 22.0
		top         = 56.0
	)
	var bars []result
	for _, r := range results {
		if r.bench == "Verify" && floor[[2]string{r.bench, r.alg}] > 0 {
			bars = append(bars, r)
		}
	}
	maxRatio := 1.0
	for _, r := range bars {
		maxRatio = max(maxRatio, r.ns/floor[[2]string{r.bench, r.alg}])
	}
	maxRatio = float64(int(maxRatio*2)+1) / 2 // round up to a half
	plotW := width - left - right
	x := func(ratio float64) float64 { return left + plotW*ratio/maxRatio }

	var body strings.Builder
	y := top
	alg := ""
	for _, r := range bars {
		if r.alg != alg {
			if alg != "" {
				y += groupGap
			}
			alg = r.alg
			fmt.Fprintf(&body, `<text x="8" y="%.1f" font-weight="bold">%s</text>`+"\n", y+barH-4, html.EscapeString(alg))
		}
		ratio := r.ns / floor[[2]string{r.bench, r.alg}]
		c := colors[r.impl]
		if c == "" {
			c = "#9467bd"
		}
		fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-8, y+barH-4, html.EscapeString(r.impl))
		fmt.Fprintf(&body, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", left, y, x(ratio)-left, barH, c)
		fmt.Fprintf(&body, `<text x="%.1f" y="%.1f">%.2f× · %.1f µs · %.0f allocs</text>`+"\n", x(ratio)+4, y+barH-4, ratio, r.ns/1e3, r.allocs)
		y += barH + gap
	}
	height := y + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width+120, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="8" y="22" font-size="15" font-weight="bold">Token verification cost relative to the signature check alone (median; lower is better)</text>`+"\n")
	fmt.Fprintf(&b, `<text x="8" y="40" fill="#555">floor = crypto/ed25519, crypto/ecdsa or crypto/rsa on the same signing input; writ with revocation checking on</text>`+"\n")
	for t := 0.0; t <= maxRatio+1e-9; t += 0.5 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x(t), top-6, x(t), y, map[bool]string{true: "#000", false: "#ddd"}[t == 1])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%.1f×</text>`+"\n", x(t), y+16, t)
	}
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// micro formats a time in ns as µs, with two decimals below 10 µs.
func micro(ns float64) string {
	if ns < 10e3 {
		return fmt.Sprintf("%.2f", ns/1e3)
	}
	return fmt.Sprintf("%.1f", ns/1e3)
}
