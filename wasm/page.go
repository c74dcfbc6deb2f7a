//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"

	"cortexcast/backend/api"
)

var jsonMarshal = json.Marshal

// page is the DOM around the canvas: status line, error box, subject picker and the
// hooks that index.html calls when the user picks, drops or pastes a file.
type page struct {
	doc  js.Value
	body js.Value
	// funcs keeps the JavaScript callbacks alive.
	funcs []js.Func
}

func newPage() *page {
	doc := js.Global().Get("document")
	return &page{doc: doc, body: doc.Get("body")}
}

func (p *page) byID(id string) js.Value { return p.doc.Call("getElementById", id) }

// setValue sets the value of a form element.
func (p *page) setValue(id, v string) {
	if el := p.byID(id); el.Truthy() {
		el.Set("value", v)
	}
}

func (p *page) status(s string) {
	if el := p.byID("status"); el.Truthy() {
		el.Set("textContent", s)
	}
}

func (p *page) showError(s string) {
	if el := p.byID("error"); el.Truthy() {
		el.Set("textContent", s)
		el.Get("style").Set("display", "block")
	}
	p.body.Get("dataset").Set("error", s)
	js.Global().Get("console").Call("warn", "cortexcast: "+s)
}

func (p *page) clearError() {
	if el := p.byID("error"); el.Truthy() {
		el.Set("textContent", "")
		el.Get("style").Set("display", "none")
	}
	p.body.Get("dataset").Delete("error")
}

// fail shows an error that stops the viewer.
func (p *page) fail(s string) {
	p.status("stopped")
	p.showError(s)
}

// setup fills the subject picker and exposes window.cortexcast.upload(bytes, name) to the
// page's own script, which reads files from the picker, drops and pastes.
func (p *page) setup(w *api.Welcome, a *app) {
	if sel := p.byID("subject"); sel.Truthy() {
		for _, s := range w.Subjects {
			opt := p.doc.Call("createElement", "option")
			opt.Set("value", s)
			opt.Set("textContent", fmt.Sprintf("subj%02d", s))
			sel.Call("appendChild", opt)
		}
		f := js.FuncOf(func(this js.Value, args []js.Value) any {
			var s int
			fmt.Sscan(sel.Get("value").String(), &s)
			a.updates <- func() {
				a.subject = s
				a.state.Model = "" // stored models belong to one subject
				a.v.SetTitle(a.title())
				a.requestImages()
				a.requestModels()
			}
			return nil
		})
		p.funcs = append(p.funcs, f)
		sel.Call("addEventListener", "change", f)
	}
	if el := p.byID("simulated"); el.Truthy() && w.Simulated {
		el.Get("style").Set("display", "block")
	}
	up := js.FuncOf(func(this js.Value, args []js.Value) any {
		if len(args) < 2 {
			return nil
		}
		b := make([]byte, args[0].Get("length").Int())
		js.CopyBytesToGo(b, args[0])
		a.upload(b, args[1].String())
		return nil
	})
	p.funcs = append(p.funcs, up)
	obj := js.Global().Get("Object").New()
	obj.Set("upload", up)
	js.Global().Set("cortexcast", obj)
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("cortexcast-ready"))
}
