package gitops.x

deny contains msg if {
  msg := 
}
