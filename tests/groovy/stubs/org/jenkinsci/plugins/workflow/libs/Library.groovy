package org.jenkinsci.plugins.workflow.libs

import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

/** Stand-in for Jenkins' @Library (Jenkins imports it into every Jenkinsfile). */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
