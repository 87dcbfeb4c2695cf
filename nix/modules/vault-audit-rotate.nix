# The OpenBao node's file audit device and its rotation, imported by
# vault.nix. OpenBao creates audit devices only from its config file (since
# CVE-2025-54997), so the device is declared here, writing one JSON line per
# request and response to /var/log/openbao/audit.log (LogsDirectory of the
# DynamicUser service, mode 0700).
#
# Rotation: a systemd timer checks the size every `checkEvery`; when the log
# is larger than `maxSize` it is renamed to audit.log.1 (older ones shifted
# up, at most `keep` kept) and the server gets SIGHUP, on which the file
# audit device closes and reopens its file_path. Lines written between the
# rename and the reopen land in audit.log.1: none is lost. Sizes measured in
# docs/audit-log.md. A systemd timer rather than logrotate: nothing else on
# the node needs logrotate, and the unit's PATH (coreutils, systemd) is all
# the script uses.
{
  config,
  lib,
  ...
}:
let
  cfg = config.hak.vaultServer;
  inherit (cfg) audit;
  dir = "/var/log/openbao";
  file = "${dir}/audit.log";
in
{
  options.hak.vaultServer.audit = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Declare the file audit device hak-pki bootstrap --audit-file and serve expect.";
    };
    maxSize = lib.mkOption {
      type = lib.types.ints.positive;
      default = 100 * 1024 * 1024;
      description = "Rotate once audit.log is larger than this many bytes.";
    };
    keep = lib.mkOption {
      type = lib.types.ints.positive;
      default = 10;
      description = "Rotated files kept (audit.log.1 … audit.log.N); older ones are deleted.";
    };
    checkEvery = lib.mkOption {
      type = lib.types.str;
      default = "10min";
      description = "How often the size is checked (systemd OnUnitActiveSec).";
    };
  };

  config = lib.mkIf (cfg.enable && audit.enable) {
    services.openbao.settings.audit.file.hak-file = {
      description = "hak: every request, for auditing issuance";
      options = {
        file_path = file;
        mode = "0600";
      };
    };

    systemd.services.openbao.serviceConfig = {
      LogsDirectory = "openbao";
      LogsDirectoryMode = "0700";
    };

    systemd.services.openbao-audit-rotate = {
      description = "Rotate OpenBao's audit log by size (rename, then SIGHUP)";
      serviceConfig.Type = "oneshot";
      script = ''
        set -eu
        f=${file}
        [ -f "$f" ] || exit 0
        [ "$(stat -c %s "$f")" -gt ${toString audit.maxSize} ] || exit 0
        rm -f "$f.${toString audit.keep}"
        for i in $(seq ${toString (audit.keep - 1)} -1 1); do
          if [ -f "$f.$i" ]; then mv "$f.$i" "$f.$((i + 1))"; fi
        done
        mv "$f" "$f.1"
        systemctl kill --signal=SIGHUP --kill-whom=main openbao.service
      '';
    };

    systemd.timers.openbao-audit-rotate = {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = audit.checkEvery;
        OnUnitActiveSec = audit.checkEvery;
      };
    };
  };
}
