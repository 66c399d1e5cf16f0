package manifests

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// tkind is the JSON shape a Go type accepts.
type tkind int

const (
	tkAny tkind = iota
	tkString
	tkBool
	tkInt
	tkUint
	tkFloat
	tkStruct
	tkMap
	tkSlice
	tkBytes
	tkQuantity
	tkIntOrString
	tkTime
)

// typeInfo is the precomputed, immutable description of a Go type used by
// the strict decoder.
type typeInfo struct {
	kind   tkind
	bits   int                  // tkInt, tkUint: size in bits
	fields map[string]*typeInfo // tkStruct: JSON name -> type
	names  []string             // tkStruct: JSON names, for suggestions
	elem   *typeInfo            // tkMap value, tkSlice element
}

var (
	quantityType    = reflect.TypeOf(resource.Quantity{})
	intOrStringType = reflect.TypeOf(intstr.IntOrString{})
	timeType        = reflect.TypeOf(metav1.Time{})
	microTimeType   = reflect.TypeOf(metav1.MicroTime{})
	rawExtType      = reflect.TypeOf(runtime.RawExtension{})
	fieldsV1Type    = reflect.TypeOf(metav1.FieldsV1{})
)

// typeInfos holds the type description of every supported kind's Go type.
// It is built once at package initialisation and never modified.
var typeInfos = func() map[reflect.Type]*typeInfo {
	memo := map[reflect.Type]*typeInfo{}
	out := map[reflect.Type]*typeInfo{}
	for _, k := range supportedKinds {
		t := reflect.TypeOf(k.newObj()).Elem()
		out[t] = buildTypeInfo(t, memo)
	}
	return out
}()

// syncWindowType describes SyncWindow for the strict decoder.
var syncWindowType = buildTypeInfo(reflect.TypeOf(SyncWindow{}), map[reflect.Type]*typeInfo{})

// typeInfoFor returns the description of obj's concrete type.
func typeInfoFor(obj Obj) *typeInfo {
	return typeInfos[reflect.TypeOf(obj).Elem()]
}

func buildTypeInfo(t reflect.Type, memo map[reflect.Type]*typeInfo) *typeInfo {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if ti, ok := memo[t]; ok {
		return ti
	}
	ti := &typeInfo{}
	memo[t] = ti
	switch t {
	case quantityType:
		ti.kind = tkQuantity
		return ti
	case intOrStringType:
		ti.kind = tkIntOrString
		return ti
	case timeType, microTimeType:
		ti.kind = tkTime
		return ti
	case rawExtType, fieldsV1Type:
		ti.kind = tkAny
		return ti
	}
	switch t.Kind() {
	case reflect.String:
		ti.kind = tkString
	case reflect.Bool:
		ti.kind = tkBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		ti.kind, ti.bits = tkInt, t.Bits()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		ti.kind, ti.bits = tkUint, t.Bits()
	case reflect.Float32, reflect.Float64:
		ti.kind = tkFloat
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			ti.kind = tkBytes
			break
		}
		ti.kind = tkSlice
		ti.elem = buildTypeInfo(t.Elem(), memo)
	case reflect.Map:
		ti.kind = tkMap
		ti.elem = buildTypeInfo(t.Elem(), memo)
	case reflect.Struct:
		ti.kind = tkStruct
		ti.fields = map[string]*typeInfo{}
		addStructFields(ti, t, memo)
	default:
		ti.kind = tkAny
	}
	return ti
}

// addStructFields adds t's JSON fields to ti, flattening inline and embedded
// structs as encoding/json does.
func addStructFields(ti *typeInfo, t reflect.Type, memo map[reflect.Type]*typeInfo) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := strings.Contains(","+opts+",", ",inline,") || (f.Anonymous && name == "")
		if inline {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addStructFields(ti, ft, memo)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := ti.fields[name]; dup {
			continue
		}
		ti.fields[name] = buildTypeInfo(f.Type, memo)
		ti.names = append(ti.names, name)
	}
}
