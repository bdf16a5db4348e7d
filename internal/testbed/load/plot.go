package load

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotRun draws replicas (top) and the scan queue's depth (bottom: visible
// and in flight) against seconds since the trigger started, one PNG.
func plotRun(res *Result, path string) error {
	var reps, vis, inflight plotter.XYs
	for _, s := range res.Samples {
		x := s.At.Seconds()
		reps = append(reps, plotter.XY{X: x, Y: float64(s.Replicas)})
		vis = append(vis, plotter.XY{X: x, Y: float64(s.Visible)})
		inflight = append(inflight, plotter.XY{X: x, Y: float64(s.NotVisible)})
	}
	if len(reps) == 0 {
		return fmt.Errorf("plot: no samples")
	}
	top := plot.New()
	top.Title.Text = fmt.Sprintf("make load: %d accounts, run %s; scanners (time ÷ %g), report at %.1f s", res.Expected, res.RunID, res.Policy.Ratio, res.Wall.Seconds())
	top.Y.Label.Text = "scanner replicas"
	top.Y.Min = 0
	l, err := plotter.NewLine(reps)
	if err != nil {
		return err
	}
	l.StepStyle = plotter.PostStep
	l.Color = color.RGBA{R: 200, A: 255}
	l.Width = vg.Points(1.5)
	top.Add(l, plotter.NewGrid())
	top.Legend.Add("replicas", l)

	bottom := plot.New()
	bottom.X.Label.Text = "seconds since the trigger started"
	bottom.Y.Label.Text = "scan queue messages"
	bottom.Y.Min = 0
	lv, err := plotter.NewLine(vis)
	if err != nil {
		return err
	}
	lv.Color = color.RGBA{B: 200, A: 255}
	lf, err := plotter.NewLine(inflight)
	if err != nil {
		return err
	}
	lf.Color = color.RGBA{G: 150, A: 255}
	lf.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	bottom.Add(lv, lf, plotter.NewGrid())
	bottom.Legend.Add("visible", lv)
	bottom.Legend.Add("in flight", lf)
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Min = 0
		p.Legend.Top = true
	}

	img := vgimg.New(vg.Points(900), vg.Points(560))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadY: vg.Points(8), PadX: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	return f.Close()
}
