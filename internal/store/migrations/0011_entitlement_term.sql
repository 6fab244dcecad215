-- term_start is when the current term of a contract's entitlement began, as
-- far as marketbridge can tell: NULL for the first term (it runs from the
-- link), else the end of the previous term when a renewal moved the end
-- date. Committed credits are drawn per term (R13).
ALTER TABLE entitlements ADD COLUMN term_start {{time}};
