# Reference for the processing benchmark: the SPEC §4 JSON flattening as a jq user would write
# it. jq 1.6 has no hash function, so the events carry no event_id (less work than the
# forwarder does); everything else matches: incident context without "alerts" plus
# "alertCount", then one event per alert. Run: jq -c --arg tenant contoso -f this.jq pages
.value | reverse[]
| (.alerts // []) as $alerts
| (del(.alerts) + {alertCount: ($alerts | length)}) as $ctx
| {type: "incident", tenant: $tenant, incident: $ctx},
  ($alerts[] | {type: "alert", tenant: $tenant, incident: $ctx, alert: .})
