package chaos

import (
	"strings"
	"testing"
)

func TestSidecarErrors(t *testing.T) {
	lines := []string{
		`daprd todo-api#1 | time="t1" level=error msg="[rabbitmq] publishing to task-events failed: did not receive confirmation of publishing" app_id=todo-api`,
		`daprd todo-api#1 | time="t2" level=error msg="[rabbitmq] publishing to task-events failed: did not receive confirmation of publishing" app_id=todo-api`,
		`daprd audit-service#2 | time="t3" level=error msg="a \"quoted\" word" app_id=audit-service`,
		`daprd audit-service#2 | time="t4" level=warning msg="not an error"`,
		`todo-api | {"level":"ERROR","msg":"not a sidecar's"}`,
		`daprd web-app#3 | time="t5" level=error msg="third, over the limit"`,
	}
	tests := []struct {
		name      string
		max       int
		want      []string
		wantNever []string
	}{
		{"each once, counted", 10, []string{
			"2× daprd todo-api#1: [rabbitmq] publishing to task-events failed: did not receive confirmation of publishing",
			`1× daprd audit-service#2: a \"quoted\" word`,
			"1× daprd web-app#3: third, over the limit",
		}, []string{"not an error", "not a sidecar's"}},
		{"at most max", 2, []string{"2× daprd todo-api#1", `1× daprd audit-service#2`}, []string{"third"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sidecarErrors(lines, tt.max)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, n := range tt.wantNever {
				if strings.Contains(got, n) {
					t.Errorf("has %q:\n%s", n, got)
				}
			}
		})
	}
}
