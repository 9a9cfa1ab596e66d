# Reference for the processing benchmark: the CEF mapping of docs/cef-mapping.md as a jq user
# would write it (jq 1.6: no hash function, so no cs6 event id; escapes done with split/join,
# which is much faster than gsub in jq 1.6; control characters other than CR/LF are left as
# they are). Run: jq -r --arg tenant contoso -f this.jq pages
def txt: if . == null or type == "object" or type == "array" then null else tostring end;
def hdr: (txt // "") | split("\r") | join(" ") | split("\n") | join(" ") | .[0:1023]
  | split("\\") | join("\\\\") | split("|") | join("\\|");
def val: txt | if . == null then null else .[0:1023] | sub(" +$"; "")
  | if . == "" then null else split("\\") | join("\\\\") | split("=") | join("\\=")
    | split("\n") | join("\\n") | split("\r") | join("\\r") end end;
def ms: if type == "string" then
    (capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$")
     | ((.s + "Z") | fromdateiso8601) * 1000 + (((.f // "") + "000")[0:3] | tonumber)
     | tostring)
  else null end;
def sev: (. // "" | tostring | ascii_downcase) as $s
  | {"unspecified": "0", "informational": "1", "low": "3", "medium": "5", "high": "8"}[$s] // "0";
def joined: if type == "array" then map(select(type == "string" and . != "")) | join(",")
  else null end;
def firstof($items; $k): [($items // [])[] | .[$k] | select(type == "string" and . != "")][0];
def ext: map(select(.[1] != null) | "\(.[0])=\(.[1])") | join(" ");
def cef($sig; $name; $severity; $pairs):
  "CEF:0|Microsoft|Microsoft 365 Defender|1.0|\($sig | hdr)|\($name | hdr)|\($severity | sev)|\($pairs | ext)";

.value | reverse[]
| . as $inc
| ($inc.alerts // []) as $alerts
| cef("incident"; $inc.incidentName; $inc.severity; [
    ["externalId", ($inc.incidentId | val)], ["rt", ($inc.lastUpdateTime | ms)],
    ["start", ($inc.createdTime | ms)], ["cat", "Incident"],
    ["cs1", ($inc.status | val)], ["cs1Label", "status"],
    ["cs2", ($inc.classification | val)], ["cs2Label", "classification"],
    ["cs3", ($inc.determination | val)], ["cs3Label", "determination"],
    ["cs4", ($inc.tags | joined | val)], ["cs4Label", "tags"],
    ["cs5", ($inc.assignedTo | val)], ["cs5Label", "assignedTo"],
    ["cn1", ($alerts | length | tostring)], ["cn1Label", "alertCount"],
    ["cn2", ($inc.redirectIncidentId | val)], ["cn2Label", "redirectIncidentId"],
    ["flexString1", ($tenant | val)], ["flexString1Label", "tenant"]]),
  ($alerts[]
   | . as $al
   | ($al.entities // []) as $ents
   | ([$ents[] | select((.entityType // "" | ascii_downcase) == "user")
       | select(.accountName or .userPrincipalName)][0]) as $u
   | ([$ents[] | select((.entityType // "" | ascii_downcase) == "mailbox")
       | select(.userPrincipalName or .mailboxAddress)][0] // {}) as $mb
   | ([$ents[] | select((.entityType // "" | ascii_downcase) == "file")] as $files
      | [(if $files == [] then $ents else $files end)[]
         | select(.fileName or .filePath or .sha256 or .sha1)][0] // {}) as $f
   | cef(if ($al.detectorId | type) == "string" and $al.detectorId != "" then $al.detectorId
         else "alert" end; $al.title; $al.severity; [
       ["externalId", ($al.alertId | val)], ["rt", ($al.lastUpdatedTime | ms)],
       ["start", ($al.firstActivity | ms)], ["end", ($al.lastActivity | ms)],
       ["cat", ($al.category | val)], ["msg", ($al.description | val)],
       ["cs1", ($al.status | val)], ["cs1Label", "status"],
       ["cs2", ($al.classification | val)], ["cs2Label", "classification"],
       ["cs3", ($al.determination | val)], ["cs3Label", "determination"],
       ["cs4", ($al.detectionSource | val)], ["cs4Label", "detectionSource"],
       ["cs5", ($al.mitreTechniques | joined | val)], ["cs5Label", "mitreTechniques"],
       ["cn1", (($al.incidentId // $inc.incidentId) | val)], ["cn1Label", "incidentId"],
       ["dhost", (firstof($al.devices; "deviceDnsName") | val)],
       ["duser", ((if $u then $u.accountName // $u.userPrincipalName
                   else $mb.userPrincipalName // $mb.mailboxAddress end) | val)],
       ["dntdom", ($u.domainName | val)],
       ["dst", (firstof($ents; "ipAddress") | val)], ["request", (firstof($ents; "url") | val)],
       ["fname", ($f.fileName | val)], ["filePath", ($f.filePath | val)],
       ["fileHash", (($f.sha256 // $f.sha1) | val)],
       ["flexString1", ($tenant | val)], ["flexString1Label", "tenant"]]))
