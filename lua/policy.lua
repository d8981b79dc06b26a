-- /etc/mlm/policy.lua - the default mlm policy: the shipped list policy,
-- wired in stage by stage so that any stage can be wrapped or replaced.
-- See mlm-lua(7) and /usr/share/doc/mlm/examples for policies that add
-- rules around these.
local lists = require "mlm_lists"

filter_recipient = lists.filter_recipient
filter_message = lists.filter_message
