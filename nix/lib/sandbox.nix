# The systemd sandbox every hak-managed daemon shares: no new privileges, a
# read-only system, private /tmp and devices, kernel knobs out of reach.
# Units add their user, capabilities and address families on top.
{
  NoNewPrivileges = true;
  ProtectSystem = "strict";
  ProtectHome = true;
  PrivateTmp = true;
  PrivateDevices = true;
  ProtectKernelTunables = true;
  ProtectKernelModules = true;
  ProtectControlGroups = true;
  LockPersonality = true;
  RestrictSUIDSGID = true;
  SystemCallArchitectures = "native";
}
