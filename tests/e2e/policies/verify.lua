-- tests/e2e/policies/verify.lua - a receiver's check of a delivered copy,
-- for tests/e2e/dkim-sign.sh through mlm-ctl try: the worker's sender
-- authentication (libopendkim, keys fetched through the configured
-- resolver) on one header line, X-Verify, that the test reads from the
-- "change:" line, and its Authentication-Results on another.

function filter_message(ctx)
  local auth = ctx.auth
  ctx:add_header("X-Verify", "dkim=" .. auth.dkim
    .. " domains=" .. table.concat(auth.dkim_domains, ",")
    .. " dmarc=" .. auth.dmarc
    .. " from=" .. (auth.from_domain or ""))
  ctx:add_header("X-Verify-Results", auth.results)
end
