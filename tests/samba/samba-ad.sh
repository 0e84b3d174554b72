#!/usr/bin/env bash
# Throw-away Samba AD DC on 127.0.0.1 for LDAP integration tests (Debian 12, run as root).
# Project copy of the team's samba-ad.sh; the tests and .ci/run use only this file. Differences:
# a test CA + server certificate for dc1.<realm>, localhost and 127.0.0.1 ($SAMBA_DIR/tls/ca.pem), so
# LDAPS/StartTLS to 127.0.0.1 verify for real (the tests pass --ldap-ca $SAMBA_DIR/tls/ca.pem);
# the Exchange attribute targetAddress is added to the schema next to mailNickname.
# usage: samba-ad.sh install|provision|start|stop|all
# Checked on Debian 12 (Samba 4.17): install ~25 s, provision+start ~10 s. Needs root (ports 389/636/3268).
# After `all`: simple bind as Administrator@corp.example.test over LDAPS 636 (Tls validate=CERT_NONE, or
# ca_certs_file=$SAMBA_DIR/private/tls/ca.pem + valid_names=['DC1.corp.example.test']) or plain 389.
# Base DN DC=corp,DC=example,DC=test. mailNickname is added to the schema; mS-DS-ConsistencyGuid is there.
# Samba differs from Windows AD: it returns >1000 entries without paging, and its proxyAddresses duplicate
# check is case-sensitive. ldap3 NTLM binds do not work against it. Stop with `samba-ad.sh stop` (by PID).
set -euo pipefail
SAMBA_DIR=${SAMBA_DIR:-/tmp/samba-ad}
REALM=${AD_REALM:-CORP.EXAMPLE.TEST}
DOMAIN=${AD_DOMAIN:-CORP}
ADMINPASS=${AD_ADMINPASS:-Passw0rd!Test123}     # must satisfy AD complexity (3 classes, >=7 chars)
BASEDN="DC=${REALM,,}"; BASEDN="${BASEDN//./,DC=}"
log() { printf '[samba-ad %s] %s\n' "$(date +%T)" "$*" >&2; }

install() {
  command -v samba >/dev/null && command -v ldbmodify >/dev/null && command -v openssl >/dev/null && return 0
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      samba-ad-dc samba-ad-provision ldb-tools openssl >/dev/null
}

provision() {
  rm -rf "$SAMBA_DIR"; mkdir -p "$SAMBA_DIR"/{run,log,cache}
  : > "$SAMBA_DIR/empty.conf"   # keep /etc/samba/smb.conf out of the generated config
  samba-tool domain provision -s "$SAMBA_DIR/empty.conf" --quiet \
    --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=NONE \
    --host-name=dc1 --host-ip=127.0.0.1 --adminpass="$ADMINPASS" --targetdir="$SAMBA_DIR" \
    --option="interfaces=127.0.0.1" --option="bind interfaces only=yes" \
    --option="server services=ldap" \
    --option="dsdb:schema update allowed=true" \
    --option="pid directory=$SAMBA_DIR/run" --option="ncalrpc dir=$SAMBA_DIR/run/ncalrpc" \
    --option="winbindd socket directory=$SAMBA_DIR/run/winbindd" \
    --option="cache directory=$SAMBA_DIR/cache" \
    --option="log file=$SAMBA_DIR/log/log.%m" >"$SAMBA_DIR/provision.log" 2>&1 \
    || { cat "$SAMBA_DIR/provision.log" >&2; return 1; }
  # provision silently drops --option="ldap server require strong auth=no"; add it by hand.
  # It allows simple binds on plain 389 (LDAPS 636 / StartTLS work without it).
  sed -i '/^\[global\]/a\\tldap server require strong auth = no' "$SAMBA_DIR/etc/smb.conf"
  make_tls
  # Exchange attributes missing from the base AD schema: mailNickname (OID 1.2.840.113556.1.2.447),
  # targetAddress (1.2.840.113556.1.2.352; project copy addition)
  cat > "$SAMBA_DIR/mailnickname-1.ldif" <<LDIF
dn: CN=ms-Exch-Mail-Nickname,CN=Schema,CN=Configuration,$BASEDN
changetype: add
objectClass: top
objectClass: attributeSchema
cn: ms-Exch-Mail-Nickname
attributeID: 1.2.840.113556.1.2.447
attributeSyntax: 2.5.5.12
oMSyntax: 64
isSingleValued: TRUE
lDAPDisplayName: mailNickname
adminDisplayName: ms-Exch-Mail-Nickname
searchFlags: 1
rangeLower: 1
rangeUpper: 64

dn: CN=ms-Exch-Target-Address,CN=Schema,CN=Configuration,$BASEDN
changetype: add
objectClass: top
objectClass: attributeSchema
cn: ms-Exch-Target-Address
attributeID: 1.2.840.113556.1.2.352
attributeSyntax: 2.5.5.12
oMSyntax: 64
isSingleValued: TRUE
lDAPDisplayName: targetAddress
adminDisplayName: ms-Exch-Target-Address
searchFlags: 1
rangeLower: 1
rangeUpper: 1123
LDIF
  cat > "$SAMBA_DIR/mailnickname-2.ldif" <<LDIF
dn: CN=Mail-Recipient,CN=Schema,CN=Configuration,$BASEDN
changetype: modify
add: mayContain
mayContain: mailNickname
mayContain: targetAddress
LDIF
  # offline (server not running yet); two calls so the new attribute is in the loaded schema for step 2
  local ldbopts=(-H "$SAMBA_DIR/private/sam.ldb" --configfile="$SAMBA_DIR/etc/smb.conf")
  ldbmodify "${ldbopts[@]}" "$SAMBA_DIR/mailnickname-1.ldif" >/dev/null
  ldbmodify "${ldbopts[@]}" "$SAMBA_DIR/mailnickname-2.ldif" >/dev/null
}

make_tls() {
  local d="$SAMBA_DIR/tls" realm=${REALM,,}
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=reconciler test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.$realm" -keyout "$d/key.pem" -out "$d/req.csr" 2>/dev/null
  printf 'subjectAltName=DNS:dc1.%s,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    "$realm" > "$d/ext.cnf"
  openssl x509 -req -in "$d/req.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
    -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null
  chmod 600 "$d/key.pem" "$d/ca.key"
  printf '\ttls enabled = yes\n\ttls keyfile = %s\n\ttls certfile = %s\n\ttls cafile = %s\n' \
    "$d/key.pem" "$d/cert.pem" "$d/ca.pem" > "$d/smb-tls.conf"
  sed -i "/^\[global\]/r $d/smb-tls.conf" "$SAMBA_DIR/etc/smb.conf"
}

start() {
  # -F: stay in foreground (NOT -i: -i exits on EOF of stdin); -M single: one process (~50 MB)
  samba -s "$SAMBA_DIR/etc/smb.conf" -F -M single --debug-stdout -d1 </dev/null >"$SAMBA_DIR/log/samba.out" 2>&1 &
  echo $! > "$SAMBA_DIR/samba.pid"
  local i
  for i in $(seq 1 300); do   # up to 30 s
    if (exec 3<>/dev/tcp/127.0.0.1/636) 2>/dev/null &&
       ldbsearch -H ldap://127.0.0.1 -s base -b '' defaultNamingContext >/dev/null 2>&1; then
      log "LDAP ready (pid $(cat "$SAMBA_DIR/samba.pid"))"; return 0
    fi
    kill -0 "$(cat "$SAMBA_DIR/samba.pid")" 2>/dev/null || { cat "$SAMBA_DIR/log/samba.out" >&2; return 1; }
    sleep 0.1
  done
  log "LDAP did not come up"; cat "$SAMBA_DIR/log/samba.out" >&2; return 1
}

stop() {
  local pid; pid=$(cat "$SAMBA_DIR/samba.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-all}" in
  install) install ;; provision) provision ;; start) start ;; stop) stop ;;
  all) stop; install; provision; start ;;  # a DC left running from before would keep its old certificate
  *) echo "usage: $0 install|provision|start|stop|all" >&2; exit 2 ;;
esac
