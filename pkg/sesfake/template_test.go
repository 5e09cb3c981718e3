package sesfake

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRender(t *testing.T) {
	data, err := parseData(`{"name":"Ann","n":42,"f":1.5,"ok":true,"nil":null,"promo":{"code":"X1","deep":{"v":"d"}},"list":[1,2]}`)
	require.NoError(t, err)
	for _, tc := range []struct{ src, want string }{
		{"", ""},
		{"plain", "plain"},
		{"Hi {{name}}!", "Hi Ann!"},
		{"Hi {{ name }}", "Hi Ann"},
		{"{{{name}}} raw", "Ann raw"},
		{"<b>{{name}}</b> & co", "<b>Ann</b> & co"},
		{"{{promo.code}}/{{promo.deep.v}}", "X1/d"},
		{"[{{missing}}][{{promo.missing}}][{{name.x}}]", "[][][]"},
		{"{{n}} {{f}} {{ok}} [{{nil}}]", "42 1.5 true []"},
		{"{{list}}", "[1,2]"},
		{"a{{! a comment }}b", "ab"},
		{"{{~name~}}", "Ann"},
	} {
		c, err := compile(tc.src)
		require.NoError(t, err, tc.src)
		require.Equal(t, tc.want, c.render(data), tc.src)
	}
	for _, bad := range []string{"{{#if x}}y{{/if}}", "{{> partial}}", "{{name", "{{}}", "{{helper arg}}"} {
		_, err := compile(bad)
		require.Error(t, err, bad)
	}
	_, err = parseData(`[1,2]`)
	require.Error(t, err)
	_, err = parseData(`{"a":`)
	require.Error(t, err)
	m, err := parseData(" ")
	require.NoError(t, err)
	require.Nil(t, m)
}
