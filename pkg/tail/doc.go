package tail
