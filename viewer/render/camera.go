package render

import (
	"fmt"
	"math"
)

// Vec3 is a 3-D vector in surface coordinates (RAS, mm): x to the right,
// y anterior, z superior.
type Vec3 [3]float32

func (a Vec3) dot(b Vec3) float32 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func (a Vec3) cross(b Vec3) Vec3 {
	return Vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

func (a Vec3) sub(b Vec3) Vec3 { return Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

func (a Vec3) norm() float32 { return float32(math.Sqrt(float64(a.dot(a)))) }

// Camera is an orbit camera around a surface, with matplotlib's view_init
// convention: the camera sits in direction (cos e·cos a, cos e·sin a, sin e)
// from the target, where a is Azimuth and e is Elevation in degrees. Zoom
// scales the fitted view (1 = the surface's bounding sphere fills the view).
type Camera struct {
	Azimuth, Elevation, Zoom float32
}

// Camera limits.
const (
	MinZoom = 0.25
	MaxZoom = 20
)

// ViewNames lists the names SetView and PresetCamera accept. The presets
// are for the left hemisphere; the right hemisphere uses the mirrored camera
// (see Camera.Mirrored), so "lateral" shows both lateral surfaces.
func ViewNames() []string {
	return []string{"lateral", "medial", "dorsal", "ventral", "anterior", "posterior", "default"}
}

// PresetCamera returns the camera of a named view for the left hemisphere:
// "lateral", "medial", "dorsal" (anterior up), "ventral" (anterior up),
// "anterior", "posterior", or "default" (posterior-lateral, slightly from
// below, which shows the occipital pole and the ventral visual cortex).
func PresetCamera(name string) (Camera, error) {
	switch name {
	case "lateral":
		return Camera{Azimuth: 180, Elevation: 0, Zoom: 1}, nil
	case "medial":
		return Camera{Azimuth: 0, Elevation: 0, Zoom: 1}, nil
	case "dorsal":
		return Camera{Azimuth: 270, Elevation: 90, Zoom: 1}, nil
	case "ventral":
		return Camera{Azimuth: 90, Elevation: -90, Zoom: 1}, nil
	case "anterior":
		return Camera{Azimuth: 90, Elevation: 0, Zoom: 1}, nil
	case "posterior":
		return Camera{Azimuth: 270, Elevation: 0, Zoom: 1}, nil
	case "default":
		return Camera{Azimuth: 240, Elevation: -15, Zoom: 1}, nil
	}
	return Camera{}, fmt.Errorf("viewer: unknown view %q (known: %v)", name, ViewNames())
}

// Mirrored returns the camera reflected through the mid-sagittal plane
// (x → −x), used for the right hemisphere.
func (c Camera) Mirrored() Camera {
	c.Azimuth = wrapDegrees(180 - c.Azimuth)
	return c
}

// Orbit turns the camera by the given degrees; elevation is clamped to
// ±90 and azimuth wrapped to [0, 360).
func (c Camera) Orbit(dAzimuth, dElevation float32) Camera {
	c.Azimuth = wrapDegrees(c.Azimuth + dAzimuth)
	c.Elevation = min(max(c.Elevation+dElevation, -90), 90)
	return c
}

// Zoomed multiplies the zoom by f, clamped to [MinZoom, MaxZoom].
func (c Camera) Zoomed(f float32) Camera {
	c.Zoom = min(max(c.Zoom*f, MinZoom), MaxZoom)
	return c
}

func wrapDegrees(a float32) float32 {
	a = float32(math.Mod(float64(a), 360))
	if a < 0 {
		a += 360
	}
	return a
}

// Basis is the camera's orthonormal frame in surface coordinates: Right and
// Up span the screen (Right, Up, −Forward is right-handed) and Forward
// points from the camera into the scene.
type Basis struct {
	Right, Up, Forward Vec3
}

// Basis returns the camera frame. Right = (−sin a, cos a, 0) and
// Up = (−cos a·sin e, −sin a·sin e, cos e), which stay well defined at
// Elevation ±90.
func (c Camera) Basis() Basis {
	a := float64(c.Azimuth) * math.Pi / 180
	e := float64(c.Elevation) * math.Pi / 180
	sa, ca := math.Sincos(a)
	se, ce := math.Sincos(e)
	return Basis{
		Right:   Vec3{float32(-sa), float32(ca), 0},
		Up:      Vec3{float32(-ca * se), float32(-sa * se), float32(ce)},
		Forward: Vec3{float32(-ce * ca), float32(-ce * sa), float32(-se)},
	}
}

// Viewport is a screen rectangle in pixels (y down) with an orthographic
// projection: Scale pixels per mm, the surface point Center at the
// rectangle's middle.
type Viewport struct {
	X, Y, W, H float32
	Scale      float32
	Center     Vec3
}

// Project maps a surface point to screen pixels (y down) and its depth
// along the view direction (larger is farther from the camera).
func (b *Basis) Project(vp *Viewport, p Vec3) (sx, sy, depth float32) {
	q := p.sub(vp.Center)
	sx = vp.X + vp.W/2 + vp.Scale*q.dot(b.Right)
	sy = vp.Y + vp.H/2 - vp.Scale*q.dot(b.Up)
	return sx, sy, q.dot(b.Forward)
}

// FitScale returns the pixels-per-mm scale at which a sphere of the given
// radius fills margin (e.g. 0.95) of the smaller side of a w×h viewport,
// times zoom.
func FitScale(w, h, radius, zoom, margin float32) float32 {
	if radius <= 0 {
		radius = 1
	}
	return zoom * margin * min(w, h) / (2 * radius)
}
