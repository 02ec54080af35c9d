package repo.x

deny contains msg if {
  msg := "no"
}
